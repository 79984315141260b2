package saml

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Key is an RSA key that signs the identity provider's metadata, responses
// and assertions, with its self-signed certificate.
type Key struct {
	ID string
	// PrivatePEM is the PKCS #8 private key. It is read only to sign, and
	// never logged, shown or exported.
	PrivatePEM []byte `json:"-"`
	// CertPEM is the X.509 certificate service providers trust.
	CertPEM []byte
	Created time.Time
	// Activates is when the key starts to sign. The key whose Activates is
	// the latest one not in the future signs; the others are published.
	Activates time.Time
}

// Request is an authentication request between its arrival and its answer:
// an AuthnRequest, or an IdP-initiated login.
type Request struct {
	// Handle is the server-side handle the browser comes back with after
	// signing in (a random value, never the request's own ID).
	Handle string
	AppID  string
	// RequestID is the AuthnRequest's ID (the handle for an IdP-initiated
	// login). A service provider's request ID is answered once.
	RequestID string
	// Data is what the response needs (pending, as JSON).
	Data     []byte
	Created  time.Time
	Expires  time.Time
	Answered time.Time // zero until answered
}

// Participant is a service provider a Gatehouse session signed in to, for
// single logout.
type Participant struct {
	SessionID    string
	AppID        string
	NameID       string
	NameIDFormat string
	SessionIndex string
	Created      time.Time
	Expires      time.Time
}

// Store is what the identity provider keeps in the database.
type Store interface {
	SAMLKeys(ctx context.Context) ([]*Key, error)
	// SAMLRequest returns a request by its handle (directory.ErrNotFound
	// if there is none).
	SAMLRequest(ctx context.Context, handle string) (*Request, error)
	// SAMLParticipants returns the service providers session signed in to.
	SAMLParticipants(ctx context.Context, sessionID string) ([]*Participant, error)
	// SAMLParticipantByIndex finds the participant app gave sessionIndex
	// to (directory.ErrNotFound if none).
	SAMLParticipantByIndex(ctx context.Context, appID, sessionIndex string) (*Participant, error)
	// CredentialsVersion changes whenever a key (or an application, or a
	// credential) changes, in this process or another.
	CredentialsVersion(ctx context.Context) (int64, error)
	// WriteSAML runs fn in one transaction (committed if fn returns nil).
	WriteSAML(ctx context.Context, fn func(Tx) error) error
}

// Tx is a write transaction of the identity provider.
type Tx interface {
	// InsertSAMLKey and DeleteSAMLKey change the keys (and the credentials
	// version).
	InsertSAMLKey(ctx context.Context, k *Key) error
	DeleteSAMLKey(ctx context.Context, id string) error
	// InsertSAMLRequest records a request; one whose (AppID, RequestID)
	// was already recorded is directory.ErrConflict. Expired requests are
	// deleted.
	InsertSAMLRequest(ctx context.Context, r *Request) error
	// AnswerSAMLRequest marks a request answered at at. It reports false
	// if the request is unknown, expired at at, or already answered.
	AnswerSAMLRequest(ctx context.Context, handle string, at time.Time) (bool, error)
	// UpsertSAMLParticipant records p, or extends the expiry of the
	// participant already recorded for (SessionID, AppID), and returns the
	// participant as stored (its SessionIndex is the first one given).
	// Expired participants are deleted.
	UpsertSAMLParticipant(ctx context.Context, p *Participant) (*Participant, error)
	// DeleteSAMLParticipants forgets the participants of a session.
	DeleteSAMLParticipants(ctx context.Context, sessionID string) error
	AppendAudit(ctx context.Context, e *directory.AuditEntry) error
	// AppendEvents writes events to the outbox.
	AppendEvents(ctx context.Context, evs []*directory.EventRecord) error
}
