package events

// Backoff is backoff, for the external tests (which cannot be in package
// events: they use the SQLite store, which imports it).
var Backoff = backoff
