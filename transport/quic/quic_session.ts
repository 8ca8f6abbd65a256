/**
 * A raw QUIC connection (ALPN `moq-lite-04`, `moq-lite-03` or `moql`) as a {@link TransportSession}.
 *
 * @module
 */

import type { Logger } from "../../log/mod.ts";
import type {
  BidiStream,
  CloseInfo,
  DatagramChannel,
  NegotiatedProtocol,
  RecvStream,
  SendStream,
  TransportSession,
} from "../types.ts";
import { ALPN_MOQL, PROTOCOL_VERSIONS } from "../versions.ts";
import { errorMessage } from "./errors.ts";
import {
  openBidiStream,
  openUniStream,
  QuicRecvHalf,
  QuicSendHalf,
  type StreamOwner,
  StreamRegistry,
  type Terminable,
} from "./streams.ts";

/** The negotiated protocol for an ALPN (`moql` and unknown → `""`), from the version table. */
export function protocolFromAlpn(alpn: string | undefined | null): NegotiatedProtocol {
  for (const version of PROTOCOL_VERSIONS) {
    if (version.served && version.alpn === alpn && version.alpn !== ALPN_MOQL) return version.alpn;
  }
  return "";
}

/** Format a Deno address as `host:port` (IPv6 in brackets). */
export function formatAddr(addr: { hostname: string; port: number } | undefined | null): string {
  if (!addr) return "unknown";
  return addr.hostname.includes(":") ? `[${addr.hostname}]:${addr.port}` : `${addr.hostname}:${addr.port}`;
}

/** Options for {@link QuicTransportSession}. */
export interface QuicSessionOptions {
  logger: Logger;
  /** The session URL (`moql://<sni or host>/` on the server, the dialed URL on a client). */
  url: URL;
  /** Override the protocol (default: from `conn.protocol`). */
  protocol?: NegotiatedProtocol;
  /** Called once the connection is fully gone (e.g. to close a client endpoint). */
  onClosed?: (info: CloseInfo) => void;
}

/**
 * QUIC datagrams of one connection: a class rather than an object literal with closures (a getter in a
 * literal made a dictionary-mode object with four closures, ~0.7 KiB per session).
 */
class QuicDatagrams implements DatagramChannel {
  readonly #conn: Deno.QuicConn;
  readonly #owner: StreamOwner;

  constructor(conn: Deno.QuicConn, owner: StreamOwner) {
    this.#conn = conn;
    this.#owner = owner;
  }

  get maxBytes(): number {
    if (this.#owner.isClosed) return 0;
    try {
      return this.#conn.maxDatagramSize;
    } catch {
      return 0;
    }
  }

  send(data: Uint8Array): void {
    if (this.#owner.isClosed || data.length > this.maxBytes) return;
    this.#conn.sendDatagram(data).catch(() => {});
  }

  async receive(): Promise<Uint8Array | null> {
    if (this.#owner.isClosed) return null;
    try {
      return await this.#conn.readDatagram();
    } catch {
      return null;
    }
  }
}

/** A raw QUIC connection carrying one moq-lite session. */
export class QuicTransportSession implements TransportSession, StreamOwner {
  readonly kind = "quic" as const;
  readonly protocol: NegotiatedProtocol;
  readonly url: URL;
  readonly peer: string;
  readonly #conn: Deno.QuicConn;
  readonly #logger: Logger;
  readonly #streams = new StreamRegistry();
  readonly #closed = Promise.withResolvers<CloseInfo>();
  #bidiReader: ReadableStreamDefaultReader<Deno.QuicBidirectionalStream> | null = null;
  #uniReader: ReadableStreamDefaultReader<Deno.QuicReceiveStream> | null = null;
  #info: CloseInfo | null = null;
  #localClose: { code: number; reason: string } | null = null;

  constructor(conn: Deno.QuicConn, options: QuicSessionOptions) {
    this.#conn = conn;
    this.url = options.url;
    this.protocol = options.protocol ?? protocolFromAlpn(conn.protocol);
    let peer = "unknown";
    try {
      peer = formatAddr(conn.remoteAddr);
    } catch {
      // the connection may already be gone
    }
    this.peer = peer;
    this.#logger = options.logger.with({ peer: this.peer });
    this.datagrams = new QuicDatagrams(conn, this);
    const onClosed = options.onClosed;
    // conn.closed rejects on idle timeout and transport errors: always handled here.
    conn.closed.then(
      (info) => {
        if (this.#localClose) {
          this.#finish({
            code: this.#localClose.code,
            reason: this.#localClose.reason,
            remote: false,
            abrupt: false,
          });
        } else {
          this.#finish({ code: info.closeCode, reason: info.reason, remote: true, abrupt: false });
        }
      },
      (error) => {
        this.#finish({
          code: this.#localClose?.code ?? 0,
          reason: this.#localClose?.reason ?? errorMessage(error),
          remote: this.#localClose === null,
          abrupt: this.#localClose === null,
        });
      },
    ).finally(() => {
      if (onClosed && this.#info) {
        try {
          onClosed(this.#info);
        } catch (error) {
          this.#logger.warn("session close hook failed", { error: errorMessage(error) });
        }
      }
    });
  }

  get closed(): Promise<CloseInfo> {
    return this.#closed.promise;
  }

  // ---- StreamOwner ----
  get isClosed(): boolean {
    return this.#info !== null;
  }
  mapCode(wireCode: number): number {
    return wireCode;
  }
  track(stream: Terminable): void {
    this.#streams.add(stream);
  }
  untrack(stream: Terminable): void {
    this.#streams.delete(stream);
  }

  /** QUIC datagrams on this connection. */
  readonly datagrams: DatagramChannel;

  openBidi(): Promise<BidiStream> {
    return openBidiStream(this.#conn, this);
  }

  openUni(): Promise<SendStream> {
    return openUniStream(this.#conn, this);
  }

  // The accepts are not async functions: a session waits in both all its life, and a suspended
  // async frame costs more than a `then`.
  acceptBidi(): Promise<BidiStream | null> {
    if (this.#info) return Promise.resolve(null);
    try {
      this.#bidiReader ??= this.#conn.incomingBidirectionalStreams.getReader();
      return this.#bidiReader.read().then(this.#acceptedBidi, this.#acceptFailed);
    } catch (error) {
      return Promise.resolve(this.#acceptFailed(error));
    }
  }

  acceptUni(): Promise<RecvStream | null> {
    if (this.#info) return Promise.resolve(null);
    try {
      this.#uniReader ??= this.#conn.incomingUnidirectionalStreams.getReader();
      return this.#uniReader.read().then(this.#acceptedUni, this.#acceptFailed);
    } catch (error) {
      return Promise.resolve(this.#acceptFailed(error));
    }
  }

  #acceptedBidi = (
    { done, value }: ReadableStreamReadResult<Deno.QuicBidirectionalStream>,
  ): BidiStream | null => {
    if (done || this.#info) {
      value?.writable.abort().catch(() => {});
      value?.readable.cancel().catch(() => {});
      return null;
    }
    try {
      return { send: new QuicSendHalf(value.writable, this), recv: new QuicRecvHalf(value.readable, this) };
    } catch (error) {
      return this.#acceptFailed(error);
    }
  };

  #acceptedUni = ({ done, value }: ReadableStreamReadResult<Deno.QuicReceiveStream>): RecvStream | null => {
    if (done || this.#info) {
      value?.cancel().catch(() => {});
      return null;
    }
    try {
      return new QuicRecvHalf(value, this);
    } catch (error) {
      return this.#acceptFailed(error);
    }
  };

  #acceptFailed = (error: unknown): null => {
    this.#logger.debug("accepting a stream failed", { error: errorMessage(error) });
    return null;
  };

  close(code: number, reason: string): void {
    if (this.#info || this.#localClose) return;
    this.#localClose = { code, reason };
    try {
      this.#conn.close({ closeCode: code, reason });
    } catch (error) {
      this.#logger.debug("closing the QUIC connection failed", { error: errorMessage(error) });
    }
    this.#finish({ code, reason, remote: false, abrupt: false });
  }

  #finish(info: CloseInfo): void {
    if (this.#info) return;
    this.#info = info;
    this.#logger.debug("QUIC session closed", {
      code: info.code,
      reason: info.reason,
      remote: info.remote,
      abrupt: info.abrupt,
    });
    this.#streams.terminateAll();
    this.#bidiReader?.cancel().catch(() => {});
    this.#uniReader?.cancel().catch(() => {});
    this.#closed.resolve(info);
  }
}
