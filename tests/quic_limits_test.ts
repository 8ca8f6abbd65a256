/**
 * Attack test (project issue 13): one HTTP/3 connection opening many WebTransport CONNECT streams
 * must not multiply the per-session quotas. The relay keeps at most
 * `MAX_SESSIONS_PER_CONNECTION` sessions per connection and closes the rest (code 11).
 */

import assert from "node:assert/strict";
import { MAX_SESSIONS_PER_CONNECTION } from "../server/mod.ts";
import { chromiumConnect, RawH3Client, readFrame } from "../transport/mod.ts";
import { e2e, hexBytes, sleep, within } from "../testing/mod.ts";

/** Whether the CONNECT stream ends (capsule or FIN) within `ms`. */
async function endsWithin(reader: Parameters<typeof readFrame>[0], ms: number): Promise<boolean> {
  const next = readFrame(reader).then(() => true, () => true);
  return await Promise.race([next, sleep(ms).then(() => false)]);
}

e2e(
  "one HTTP/3 connection cannot open more than the per-connection cap of WebTransport sessions",
  async (relay) => {
    const sha = (await (await fetch(`${relay.httpUrl}/certificate.sha256`)).text()).trim();
    const client = await RawH3Client.connect(relay.port, hexBytes(sha));
    try {
      await client.sendSettings();
      const attempts = MAX_SESSIONS_PER_CONNECTION + 6;
      const connects = [];
      for (let i = 0; i < attempts; i++) {
        const c = await client.openConnect(
          chromiumConnect(`127.0.0.1:${relay.port}`, "/anon", '"moq-lite-04"'),
        );
        const response = await within(5_000, `CONNECT ${i} answered`, readFrame(c.reader));
        assert.equal(response?.type, 0x01, "HEADERS");
        connects.push(c);
      }
      const ended = await Promise.all(connects.map((c) => endsWithin(c.reader, 2_000)));
      const open = ended.filter((e) => !e).length;
      assert.equal(open, MAX_SESSIONS_PER_CONNECTION, `sessions left open: ${open} of ${attempts}`);
      await relay.waitForLog(/too many WebTransport sessions on one connection/);
    } finally {
      await client.close();
    }
  },
  { auth: `public = "anon"` },
);
