package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
	rows, err := s.r.QueryContext(ctx, `SELECT id, private_pem, cert_pem, created, activates FROM saml_keys ORDER BY activates DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list SAML keys: %w", err)
	}
	return collect(rows, func(sc scanner) (*saml.Key, error) {
		var k saml.Key
		var priv, cert, created, activates string
		if err := sc.Scan(&k.ID, &priv, &cert, &created, &activates); err != nil {
			return nil, err
		}
		k.PrivatePEM, k.CertPEM = []byte(priv), []byte(cert)
		var err error
		if k.Created, err = parseTime(created); err != nil {
			return nil, err
		}
		if k.Activates, err = parseTime(activates); err != nil {
			return nil, err
		}
		return &k, nil
	})
}

// SAMLRequest returns a pending or answered request by its handle.
func (s *Store) SAMLRequest(ctx context.Context, handle string) (*saml.Request, error) {
	var r saml.Request
	var data, created, expires string
	var answered sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT handle, app_id, request_id, data, created, expires, answered FROM saml_requests WHERE handle = ?`, handle).
		Scan(&r.Handle, &r.AppID, &r.RequestID, &data, &created, &expires, &answered)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("SAML request", handle)
	}
	if err != nil {
		return nil, fmt.Errorf("read SAML request: %w", err)
	}
	r.Data = []byte(data)
	if r.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if r.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	if answered.Valid {
		if r.Answered, err = parseTime(answered.String); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

const participantCols = `session_id, app_id, name_id, name_id_format, session_index, created, expires`

func scanParticipant(sc scanner) (*saml.Participant, error) {
	var p saml.Participant
	var created, expires string
	if err := sc.Scan(&p.SessionID, &p.AppID, &p.NameID, &p.NameIDFormat, &p.SessionIndex, &created, &expires); err != nil {
		return nil, err
	}
	var err error
	if p.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if p.Expires, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &p, nil
}

// SAMLParticipants returns the service providers a session signed in to,
// in the order it did.
func (s *Store) SAMLParticipants(ctx context.Context, sessionID string) ([]*saml.Participant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+participantCols+` FROM saml_participants WHERE session_id = ? ORDER BY created, app_id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("list SAML participants: %w", err)
	}
	return collect(rows, scanParticipant)
}

// SAMLParticipantByIndex finds the participant an application gave a
// SessionIndex to.
func (s *Store) SAMLParticipantByIndex(ctx context.Context, appID, sessionIndex string) (*saml.Participant, error) {
	p, err := scanParticipant(s.r.QueryRowContext(ctx, `SELECT `+participantCols+` FROM saml_participants WHERE app_id = ? AND session_index = ?`, appID, sessionIndex))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("SAML session", sessionIndex)
	}
	if err != nil {
		return nil, fmt.Errorf("read SAML participant: %w", err)
	}
	return p, nil
}

// WriteSAML runs fn in one transaction. A change of keys moves the
// credentials version, as a change of the access token keys does.
func (s *Store) WriteSAML(ctx context.Context, fn func(saml.Tx) error) error {
	keys := false
	err := s.submit(ctx, func(t *tx) error {
		st := &samlTx{tx: t}
		if err := fn(st); err != nil {
			return err
		}
		keys = st.keys
		if !st.keys {
			return nil
		}
		_, err := t.tx.ExecContext(ctx, `UPDATE cred_version SET version = version + 1 WHERE id = 1`)
		return err
	})
	if keys {
		s.cred.Store(nil)
	}
	return err
}

func (t *samlTx) InsertSAMLKey(ctx context.Context, k *saml.Key) error {
	_, err := t.tx.tx.ExecContext(ctx, `INSERT INTO saml_keys (id, private_pem, cert_pem, created, activates) VALUES (?, ?, ?, ?, ?)`,
		k.ID, string(k.PrivatePEM), string(k.CertPEM), fmtTime(k.Created), fmtTime(k.Activates))
	if err != nil {
		return conflict(err, "store SAML key")
	}
	t.keys = true
	return nil
}

func (t *samlTx) DeleteSAMLKey(ctx context.Context, id string) error {
	if _, err := t.tx.tx.ExecContext(ctx, `DELETE FROM saml_keys WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete SAML key: %w", err)
	}
	t.keys = true
	return nil
}

func (t *samlTx) InsertSAMLRequest(ctx context.Context, r *saml.Request) error {
	if _, err := t.tx.tx.ExecContext(ctx, `DELETE FROM saml_requests WHERE expires < ?`, fmtTime(r.Created)); err != nil {
		return fmt.Errorf("prune SAML requests: %w", err)
	}
	_, err := t.tx.tx.ExecContext(ctx, `INSERT INTO saml_requests (handle, app_id, request_id, data, created, expires) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Handle, r.AppID, r.RequestID, string(r.Data), fmtTime(r.Created), fmtTime(r.Expires))
	if isForeignKey(err) {
		return notFound("Application", r.AppID)
	}
	if _, ok := isUnique(err); ok {
		return &directory.Error{Kind: directory.ErrConflict, Op: "record SAML request", Msg: "this request was already received"}
	}
	if err != nil {
		return fmt.Errorf("record SAML request: %w", err)
	}
	return nil
}

func (t *samlTx) AnswerSAMLRequest(ctx context.Context, handle string, at time.Time) (bool, error) {
	res, err := t.tx.tx.ExecContext(ctx, `UPDATE saml_requests SET answered = ? WHERE handle = ? AND answered IS NULL AND expires > ?`,
		fmtTime(at), handle, fmtTime(at))
	if err != nil {
		return false, fmt.Errorf("answer SAML request: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (t *samlTx) UpsertSAMLParticipant(ctx context.Context, p *saml.Participant) (*saml.Participant, error) {
	if _, err := t.tx.tx.ExecContext(ctx, `DELETE FROM saml_participants WHERE expires < ?`, fmtTime(p.Created)); err != nil {
		return nil, fmt.Errorf("prune SAML participants: %w", err)
	}
	out, err := scanParticipant(t.tx.tx.QueryRowContext(ctx, `INSERT INTO saml_participants (`+participantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_id, app_id) DO UPDATE SET expires = max(saml_participants.expires, excluded.expires)
		RETURNING `+participantCols,
		p.SessionID, p.AppID, p.NameID, p.NameIDFormat, p.SessionIndex, fmtTime(p.Created), fmtTime(p.Expires)))
	if isForeignKey(err) {
		return nil, notFound("Application", p.AppID)
	}
	if err != nil {
		return nil, conflict(err, "record SAML participant")
	}
	return out, nil
}

func (t *samlTx) DeleteSAMLParticipants(ctx context.Context, sessionID string) error {
	if _, err := t.tx.tx.ExecContext(ctx, `DELETE FROM saml_participants WHERE session_id = ?`, sessionID); err != nil {
		return fmt.Errorf("forget SAML participants: %w", err)
	}
	return nil
}
