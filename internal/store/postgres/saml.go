package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

var (
	_ saml.Store = (*Store)(nil)
	_ saml.Tx    = (*samlTx)(nil)
)

// samlTx is a write transaction of the SAML identity provider; keys notes
// that a key changed (the credentials version moves with it).
type samlTx struct {
	*tx
	keys bool
}

// SAMLKeys lists the SAML signing keys, the latest to activate first.
func (s *Store) SAMLKeys(ctx context.Context) ([]*saml.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, private_pem, cert_pem, created, activates FROM saml_keys ORDER BY activates DESC, id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list SAML keys: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (*saml.Key, error) {
		var k saml.Key
		var priv, cert string
		if err := sc.Scan(&k.ID, &priv, &cert, &k.Created, &k.Activates); err != nil {
			return nil, err
		}
		k.PrivatePEM, k.CertPEM = []byte(priv), []byte(cert)
		k.Created, k.Activates = k.Created.UTC(), k.Activates.UTC()
		return &k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list SAML keys: %w", err)
	}
	return out, nil
}

// SAMLRequest returns a pending or answered request by its handle.
func (s *Store) SAMLRequest(ctx context.Context, handle string) (*saml.Request, error) {
	var r saml.Request
	var data string
	var answered pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `SELECT handle, app_id, request_id, data, created, expires, answered FROM saml_requests WHERE handle = $1`, handle).
		Scan(&r.Handle, &r.AppID, &r.RequestID, &data, &r.Created, &r.Expires, &answered)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("SAML request", handle)
	}
	if err != nil {
		return nil, fmt.Errorf("read SAML request: %w", err)
	}
	r.Data = []byte(data)
	r.Created, r.Expires = r.Created.UTC(), r.Expires.UTC()
	if answered.Valid {
		r.Answered = answered.Time.UTC()
	}
	return &r, nil
}

const participantCols = `session_id, app_id, name_id, name_id_format, session_index, created, expires`

func scanParticipant(sc scanner) (*saml.Participant, error) {
	var p saml.Participant
	if err := sc.Scan(&p.SessionID, &p.AppID, &p.NameID, &p.NameIDFormat, &p.SessionIndex, &p.Created, &p.Expires); err != nil {
		return nil, err
	}
	p.Created, p.Expires = p.Created.UTC(), p.Expires.UTC()
	return &p, nil
}

// SAMLParticipants returns the service providers a session signed in to,
// in the order it did.
func (s *Store) SAMLParticipants(ctx context.Context, sessionID string) ([]*saml.Participant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+participantCols+` FROM saml_participants WHERE session_id = $1 ORDER BY created, app_id COLLATE "C"`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("list SAML participants: %w", err)
	}
	out, err := collect(rows, scanParticipant)
	if err != nil {
		return nil, fmt.Errorf("list SAML participants: %w", err)
	}
	return out, nil
}

// SAMLParticipantByIndex finds the participant an application gave a
// SessionIndex to.
func (s *Store) SAMLParticipantByIndex(ctx context.Context, appID, sessionIndex string) (*saml.Participant, error) {
	p, err := scanParticipant(s.pool.QueryRow(ctx, `SELECT `+participantCols+` FROM saml_participants WHERE app_id = $1 AND session_index = $2`, appID, sessionIndex))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("SAML session", sessionIndex)
	}
	if err != nil {
		return nil, fmt.Errorf("read SAML participant: %w", err)
	}
	return p, nil
}

// WriteSAML runs fn in one transaction. A change of keys moves the
// credentials version and notifies the other processes, as a change of the
// access token keys does.
func (s *Store) WriteSAML(ctx context.Context, fn func(saml.Tx) error) error {
	var version int64
	err := s.write(ctx, func(t *tx) error {
		st := &samlTx{tx: t}
		version = 0
		if err := fn(st); err != nil {
			return err
		}
		if !st.keys {
			return nil
		}
		if err := t.tx.QueryRow(ctx, `UPDATE cred_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&version); err != nil {
			return fmt.Errorf("bump credentials version: %w", err)
		}
		if _, err := t.tx.Exec(ctx, `SELECT pg_notify($1, $2)`, credChannel, strconv.FormatInt(version, 10)); err != nil {
			return fmt.Errorf("notify credentials change: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if version != 0 {
		s.creds.raise(version)
	}
	return nil
}

func (t *samlTx) InsertSAMLKey(ctx context.Context, k *saml.Key) error {
	_, err := t.tx.tx.Exec(ctx, `INSERT INTO saml_keys (id, private_pem, cert_pem, created, activates) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, string(k.PrivatePEM), string(k.CertPEM), k.Created, k.Activates)
	if err != nil {
		return conflict(err, "store SAML key")
	}
	t.keys = true
	return nil
}

func (t *samlTx) DeleteSAMLKey(ctx context.Context, id string) error {
	if _, err := t.tx.tx.Exec(ctx, `DELETE FROM saml_keys WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete SAML key: %w", err)
	}
	t.keys = true
	return nil
}

func (t *samlTx) InsertSAMLRequest(ctx context.Context, r *saml.Request) error {
	if _, err := t.tx.tx.Exec(ctx, `DELETE FROM saml_requests WHERE expires < $1`, r.Created); err != nil {
		return fmt.Errorf("prune SAML requests: %w", err)
	}
	_, err := t.tx.tx.Exec(ctx, `INSERT INTO saml_requests (handle, app_id, request_id, data, created, expires) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.Handle, r.AppID, r.RequestID, string(r.Data), r.Created, r.Expires)
	if isForeignKey(err) {
		return notFound("Application", r.AppID)
	}
	if _, ok := isUnique(err); ok {
		return &directory.Error{Kind: directory.ErrConflict, Op: "record SAML request", Msg: "this request was already received"}
	}
	if err != nil {
		return conflict(err, "record SAML request")
	}
	return nil
}

func (t *samlTx) AnswerSAMLRequest(ctx context.Context, handle string, at time.Time) (bool, error) {
	tag, err := t.tx.tx.Exec(ctx, `UPDATE saml_requests SET answered = $1 WHERE handle = $2 AND answered IS NULL AND expires > $1`, at, handle)
	if err != nil {
		return false, fmt.Errorf("answer SAML request: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *samlTx) UpsertSAMLParticipant(ctx context.Context, p *saml.Participant) (*saml.Participant, error) {
	if _, err := t.tx.tx.Exec(ctx, `DELETE FROM saml_participants WHERE expires < $1`, p.Created); err != nil {
		return nil, fmt.Errorf("prune SAML participants: %w", err)
	}
	out, err := scanParticipant(t.tx.tx.QueryRow(ctx, `INSERT INTO saml_participants (`+participantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (session_id, app_id) DO UPDATE SET expires = greatest(saml_participants.expires, excluded.expires)
		RETURNING `+participantCols,
		p.SessionID, p.AppID, p.NameID, p.NameIDFormat, p.SessionIndex, p.Created, p.Expires))
	if isForeignKey(err) {
		return nil, notFound("Application", p.AppID)
	}
	if err != nil {
		return nil, conflict(err, "record SAML participant")
	}
	return out, nil
}

func (t *samlTx) DeleteSAMLParticipants(ctx context.Context, sessionID string) error {
	if _, err := t.tx.tx.Exec(ctx, `DELETE FROM saml_participants WHERE session_id = $1`, sessionID); err != nil {
		return fmt.Errorf("forget SAML participants: %w", err)
	}
	return nil
}
