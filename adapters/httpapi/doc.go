// Package httpapi is the HTTP API of payoutd: resource-oriented JSON
// routes under /v1/shops/{platform}/{shop}/... for every command of the
// domain and every read model of projections (docs/openapi.yaml is the
// reference; a test keeps it and Routes in step).
//
// Every request carries a bearer token; its principal (tokens.Principal)
// is the actor of the command, never a body field. The API checks, before
// the command handler runs (so a refusal appends nothing): the token
// (401), the path values (400), that the token reaches the shop and that
// its role may use the route (403, domain.AllowedRoles for commands),
// the Idempotency-Key header (400), the media type (415), the body size
// (413), the JSON (400: syntax, types, unknown fields, trailing data, a
// body field contradicting the path). Then the domain decides: a rule
// rejection is 422 with the rule's code, auth.forbidden is 403, a missing
// resource (*.unknown) is 404, a lost race is 409. Errors are always JSON
// {"code", "message", "details"}; errors.go lists the HTTP-level codes.
//
// Accepted commands answer 201 (a POST creating a resource in a
// collection) or 200 (every other command) with the stream, its version,
// the global position of the last event and the events. A retry with the
// same Idempotency-Key answers the same status and body with
// "replayed": true and the header Idempotent-Replayed: true.
package httpapi
