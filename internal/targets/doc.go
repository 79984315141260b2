// Package targets holds the clients that deliver events of Gatehouse's event
// pipeline to external systems: signed webhooks (Standard Webhooks 1.0),
// email through Resend or SMTP, and Alibaba Cloud EventBridge. Each
// classifies every outcome of an attempt for the delivery engine
// (internal/events) as a Result: Delivered, Retry (after RetryAfter when the
// answer said when), Permanent (retrying cannot help) or Disable (the
// endpoint asked to be disabled).
//
// Common to every target: a cancelled or expired context of the caller is
// Retry with Err = ctx.Err(); other network errors and timeouts are Retry;
// every connection goes through the egress policy (internal/egress; the
// zero policy when the caller gives none), and one it refuses is
// Permanent; a payload the
// target cannot send (not JSON, no recipient, unknown template…) is
// Permanent before anything is sent. Result.Response is an excerpt of the
// answer of at most 1 KiB with the target's secrets replaced by
// "[redacted]"; error texts name endpoints without their path or query,
// which may hold tokens. Retry-After and rate-limit delays are capped at 7
// days.
//
// # Webhook
//
// POST of the payload (application/json) with webhook-id (the event id, the
// same on every attempt), webhook-timestamp (this attempt) and
// webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>" per
// secret); with WebhookConfig.SignatureHeaders, the same values as svix-id,
// svix-timestamp and svix-signature instead, or as well (receivers built on
// older Svix libraries read only those). Redirects are never followed.
//
//	2xx                        Delivered
//	410 Gone                   Disable
//	408, 425, 429, 5xx         Retry, honouring Retry-After (seconds or HTTP-date)
//	3xx                        Permanent: "update the endpoint URL"
//	other 4xx                  Permanent
//	timeout, reset, refused    Retry
//	egress policy refusal      Permanent
//
// Standard Webhooks calls 3xx a "failure" and gives the remedy: "it's
// recommended to update the webhook URL instead" of following redirects.
// A redirect does not go away by waiting, as a 404 does not, so 3xx is
// Permanent like the other client errors; the engine can replay the dead
// deliveries once the URL is fixed.
//
// # Resend
//
//	2xx                                       Delivered (Response is the email id)
//	429 daily_quota_exceeded,                 Retry; the API key is paused (Pauser) until retry-after
//	  monthly_quota_exceeded                    if it is a minute or more, else for 24 hours
//	429 rate_limit_exceeded                   Retry after retry-after, else ratelimit-reset
//	409 concurrent_idempotent_requests        Retry, Uncertain (the first attempt is still in progress)
//	5xx                                       Retry, Uncertain, honouring Retry-After
//	409 invalid_idempotent_request            Permanent (this event's email was already sent with other content)
//	400, 401, 403, 404, 422 …                 Permanent, with Resend's name and message
//	timeout, reset, refused                   Retry, Uncertain
//
// Resend's documentation: retry 429 and 5xx only. The Idempotency-Key,
// EventID ":" TargetID ":" a digest of the template and recipients (and
// ":r" n after the nth replay, so that a replay sends again), makes a
// retry after a lost answer return the first email's id instead of sending
// again; an event or target id that is not visible ASCII is replaced by
// its digest, and a key over Resend's 256 characters by "sha256:" and a
// digest. Resend remembers a key for 24 hours (KeyLifetime): an answer
// that leaves unknown whether the email was sent is Uncertain, and the
// delivery engine does not retry it past that. Targets built with one
// ResendAccounts and the same base URL and API key share a client-side
// limiter (5 requests/s by default, the lowest rate_limit among them) and
// their pauses: ratelimit-remaining: 0, or a 429, pauses them until
// retry-after, else ratelimit-reset; a used-up quota pauses them as above,
// and a request that would go meanwhile is not made (Retry, not
// Uncertain).
//
// # SMTP
//
//	250 after DATA                           Delivered (Status 250, Response the server's reply)
//	4xx reply (421, 450, 451, 452, 454 …)    Retry
//	5xx reply (550, 553, 554, 535 …)         Permanent
//	connection refused, reset, timeout       Retry
//	certificate that does not verify,        Permanent
//	  no STARTTLS where TLS is "starttls",
//	  no AUTH mechanism Gatehouse uses,
//	  egress policy refusal
//
// The connection goes to Host and Port (an IPv6 address with or without
// brackets) over TCP through SMTPConfig.Egress; a Host that is neither a
// name nor an address (go-mail's "unix://" sockets) is refused by NewSMTP.
//
// Replies are read from go-mail v0.8.1's typed errors: *mail.SendError
// (ErrorCode, IsTemp; Reason tells the phase) for MAIL, RCPT and DATA, and
// *textproto.Error for the greeting, EHLO, STARTTLS and AUTH. When several
// recipients are refused go-mail reports the last refusal's code.
//
// Credentials are only sent over TLS: a Username is refused with TLS
// "none" or "starttls-optional" (there is no option to allow it), and with
// "starttls" a server that does not offer STARTTLS is refused before AUTH.
// AUTH uses SCRAM-SHA-256, SCRAM-SHA-1, PLAIN or LOGIN, the first the server
// offers. A private CA (an on-premises relay) is trusted through
// SMTPConfig.CAFile (PEM) or TLSConfig.RootCAs. Each attempt carries the same Message-ID,
// <event id "." digest of target, template and recipients "@" sender's
// domain>; after the nth replay ".r" n comes before the "@" (a replayed
// email is a new message).
//
// # Email templates
//
// Both email targets render named templates (see Templates): a subject, a
// text and an HTML part per locale; welcome_new_hire is built in, in "en"
// and "zh", and an operator's directory overrides it file by file. It
// greets the person by greetingName (givenName, else displayName, never an
// email address) and names the company (the Company setting, else the root
// organization's name unless it is still "Root"). A
// payload naming a template that does not exist is Permanent
// (ErrTemplateNotFound). A variable the event does not have, or that is
// JSON null, renders as nothing in every part and is false in
// if/with/or; values are HTML-escaped in the HTML part only. A subject that
// renders empty is Permanent.
//
// # EventBridge
//
// One PutEvents call carries up to 16 deliveries (256 KiB); each delivery
// gets its own entry's result:
//
//	entry without ErrorCode                    Delivered
//	entry ErrorCode TooManyRequests, Throttl…,  Retry
//	  InternalError, ServiceUnavailable …
//	other entry ErrorCode                      Permanent
//	no entry for it, FailedEntryCount 0        Delivered
//	no entry for it, FailedEntryCount > 0      Retry
//	429, 5xx for the whole call                Retry (every delivery of the call)
//	403 SignatureDoesNotMatch, 400 … for it    Permanent (every delivery of the call)
//	200 with an unreadable answer              Retry (consumers deduplicate by id)
//	id, type or size over EventBridge's limits Permanent, without sending it
package targets
