/**
 * moq-transport error code registries, drafts 14–20: session termination codes (CONNECTION_CLOSE /
 * WebTransport session close), per-request error codes (the draft-14 *_ERROR messages, then the
 * unified REQUEST_ERROR of 15+), PUBLISH_DONE status codes and data stream reset codes.
 *
 * @module
 */

import type { Draft } from "./draft.ts";

/** Session termination codes (draft-ietf-moq-transport-14 §3.4 and later). */
export const SessionCode = {
  NoError: 0x0,
  InternalError: 0x1,
  Unauthorized: 0x2,
  ProtocolViolation: 0x3,
  InvalidRequestId: 0x4,
  DuplicateTrackAlias: 0x5,
  KeyValueFormattingError: 0x6,
  TooManyRequests: 0x7,
  InvalidPath: 0x8,
  MalformedPath: 0x9,
  GoawayTimeout: 0x10,
  ControlMessageTimeout: 0x11,
  DataStreamTimeout: 0x12,
  AuthTokenCacheOverflow: 0x13,
  DuplicateAuthTokenAlias: 0x14,
  VersionNegotiationFailed: 0x15,
  MalformedAuthToken: 0x16,
  UnknownAuthTokenAlias: 0x17,
  ExpiredAuthToken: 0x18,
  InvalidAuthority: 0x19,
  MalformedAuthority: 0x1a,
} as const;

/** Draft-14 SUBSCRIBE_ERROR / TRACK_STATUS_ERROR / PUBLISH_ERROR codes. */
export const SubscribeErrorCode14 = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  Timeout: 0x2,
  NotSupported: 0x3,
  TrackDoesNotExist: 0x4,
  InvalidRange: 0x5,
  MalformedAuthToken: 0x10,
  ExpiredAuthToken: 0x12,
} as const;

/** Draft-14 PUBLISH_NAMESPACE_ERROR codes. */
export const PublishNamespaceErrorCode14 = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  Timeout: 0x2,
  NotSupported: 0x3,
  Uninterested: 0x4,
  MalformedAuthToken: 0x10,
  ExpiredAuthToken: 0x12,
} as const;

/** Draft-14 SUBSCRIBE_NAMESPACE_ERROR codes. */
export const SubscribeNamespaceErrorCode14 = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  Timeout: 0x2,
  NotSupported: 0x3,
  NamespacePrefixUnknown: 0x4,
  NamespacePrefixOverlap: 0x5,
  MalformedAuthToken: 0x10,
  ExpiredAuthToken: 0x12,
} as const;

/** Draft-14 FETCH_ERROR codes. */
export const FetchErrorCode14 = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  Timeout: 0x2,
  NotSupported: 0x3,
  TrackDoesNotExist: 0x4,
  InvalidRange: 0x5,
  NoObjects: 0x6,
  InvalidJoiningRequestId: 0x7,
  UnknownStatusInRange: 0x8,
  MalformedTrack: 0x9,
  MalformedAuthToken: 0x10,
  ExpiredAuthToken: 0x12,
} as const;

/** REQUEST_ERROR codes of drafts 15–16 (one registry for every request). */
export const RequestErrorCode15 = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  Timeout: 0x2,
  NotSupported: 0x3,
  MalformedAuthToken: 0x4,
  ExpiredAuthToken: 0x5,
  DoesNotExist: 0x10,
  InvalidRange: 0x11,
  MalformedTrack: 0x12,
  DuplicateSubscription: 0x19,
  Uninterested: 0x20,
  PrefixOverlap: 0x30,
  InvalidJoiningRequestId: 0x32,
} as const;

/** REQUEST_ERROR codes of drafts 17–20: the 15–16 set plus the later additions. */
export const RequestErrorCode17 = {
  ...RequestErrorCode15,
  GoingAway: 0x6,
  ExcessiveLoad: 0x9,
  NamespaceTooLarge: 0x31,
  UnsupportedExtension: 0x33,
  Redirect: 0x34,
} as const;

/** PUBLISH_DONE status codes (drafts 14–20). */
export const PublishDoneCode = {
  InternalError: 0x0,
  Unauthorized: 0x1,
  TrackEnded: 0x2,
  SubscriptionEnded: 0x3,
  GoingAway: 0x4,
  Expired: 0x5,
  TooFarBehind: 0x6,
  UpdateFailed: 0x8,
  MalformedTrack: 0x12,
} as const;

/** Data stream RESET_STREAM codes (drafts 14–20). */
export const StreamResetCode = {
  InternalError: 0x0,
  Cancelled: 0x1,
  DeliveryTimeout: 0x2,
  SessionClosed: 0x3,
  UnknownObjectStatus: 0x4,
  MalformedTrack: 0x12,
} as const;

/** The "not supported" request error code of `draft` (the same value, 0x3, in every draft). */
export function notSupportedCode(_draft: Draft): number {
  return 0x3;
}

/** The "does not exist" request error code of `draft` (TRACK_DOES_NOT_EXIST 0x4 in 14, 0x10 after). */
export function doesNotExistCode(draft: Draft): number {
  return draft === 14 ? SubscribeErrorCode14.TrackDoesNotExist : RequestErrorCode15.DoesNotExist;
}

/** The "unauthorized" request error code (0x1 in every draft). */
export function unauthorizedCode(_draft: Draft): number {
  return 0x1;
}
