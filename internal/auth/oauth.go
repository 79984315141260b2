package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// OAuth 2.0 client credentials (RFC 6749 §4.4).
//
// Access tokens are JWTs (RFC 9068) signed with ES256, with a "kid" naming
// the key; the keys rotate and the public ones are published as a JWKS.
// An RS256 key rotates beside the ES256 one for OpenID Connect ID tokens
// (RS256 is the algorithm every relying party supports: OIDC Core §15.1).
// Signed tokens were chosen over opaque ones for three reasons: issuing one
// writes nothing (RAM-style clients fetch a token per job, and the issue rate
// is then bounded by CPU, not by commits); checking one needs no lookup of
// the token itself; and the same keys sign the OIDC ID tokens single sign-on
// needs. What signed tokens usually lose — revocation — is kept: every check
// also looks at the application and the secret the token was obtained with
// (through the credentials cache), so disabling either ends its tokens at
// once.

// Errors of the token endpoint (RFC 6749 §5.2).
var (
	ErrInvalidClient = errors.New("invalid_client")
	ErrInvalidScope  = errors.New("invalid_scope")
	// ErrUnauthorizedClient: the client authenticated, but its kind may
	// not use the grant (a single sign-on application asking for
	// client_credentials).
	ErrUnauthorizedClient = errors.New("unauthorized_client")
)

// audience is the "aud" of access tokens: Gatehouse's APIs.
const audience = "gatehouse"

// lifetimeLeeway is how much longer than AccessTokenLifetime an access
// token's exp may be after its iat: the claims are whole seconds.
const lifetimeLeeway = time.Minute

// tokenClaims are an access token's claims (RFC 9068).
type tokenClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	SecretID string `json:"sid"`
}

// Issued is an access token and what it grants.
type Issued struct {
	AccessToken string
	Scopes      Scopes
	ExpiresIn   time.Duration
}

// Issuer is the "iss" of the access tokens the service issues and
// accepts, and the issuer its RFC 8414 metadata names.
func (s *Service) Issuer() string {
	if iss := s.iss.Load(); iss != nil {
		return *iss
	}
	return "urn:gatehouse"
}

// SetIssuer changes the issuer: for a server that learns its address when
// it starts listening. Access tokens that name another issuer are refused
// from then on.
func (s *Service) SetIssuer(iss string) {
	s.iss.Store(&iss)
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// accessTokenType reports whether a JWT's typ header says it is an access
// token (RFC 9068 §4: "at+jwt", or "application/at+jwt"; media types
// compare case-insensitively).
func accessTokenType(h jose.Header) bool {
	typ, ok := h.ExtraHeaders[jose.HeaderType].(string)
	return ok && (strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt"))
}

// Issue checks an application's client secret and issues an access token
// for the requested scopes (all of the application's when none are asked
// for). Requested scopes outside the application's are ErrInvalidScope;
// a wrong client id or secret, a disabled secret or application,
// ErrInvalidClient (or a *ThrottledError after too many failures).
func (s *Service) Issue(ctx context.Context, clientID, secret, client string, requested Scopes) (*Issued, error) {
	app, sec, err := s.CheckSecret(ctx, clientID, secret, client)
	if err != nil {
		return nil, err
	}
	// A relying party's or service provider's secret signs people in
	// (authorization_code, refresh_token); it does not buy a token for
	// Gatehouse's own APIs, whatever scopes the application may one day
	// hold (RFC 6749 §4.4: client_credentials is for clients acting for
	// themselves).
	if app.Kind.SSO() {
		return nil, fmt.Errorf("%w: a %s application signs people in and may not use the client_credentials grant", ErrUnauthorizedClient, app.Kind)
	}
	scopes := app.Scopes
	if len(requested) > 0 {
		if !app.Scopes.Covers(requested) {
			return nil, fmt.Errorf("%w: the application may not have %s", ErrInvalidScope, requested.String())
		}
		scopes = requested
	}
	key, err := s.keys.current(ctx, jose.ES256)
	if err != nil {
		return nil, err
	}
	now := s.now()
	claims := tokenClaims{
		Claims: jwt.Claims{
			Issuer:    s.Issuer(),
			Subject:   app.ID,
			Audience:  jwt.Audience{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
			Expiry:    jwt.NewNumericDate(now.Add(s.opt.AccessTokenLifetime)),
			ID:        randomID(),
		},
		ClientID: app.ID, Scope: scopes.String(), SecretID: sec.ID,
	}
	raw, err := jwt.Signed(key.signer).Claims(claims).Serialize()
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	s.recordUse(&Principal{App: app, SecretID: sec.ID}, now)
	if s.opt.OnIssue != nil {
		s.opt.OnIssue()
	}
	return &Issued{AccessToken: raw, Scopes: scopes, ExpiresIn: s.opt.AccessTokenLifetime}, nil
}

// CheckSecret authenticates a client by its client secret (OAuth 2.0
// client_secret_basic or client_secret_post): the application and the
// secret that matched. A wrong client id or secret, a disabled secret or
// application is ErrInvalidClient, counted against the client address and
// the application (a *ThrottledError after too many failures).
func (s *Service) CheckSecret(ctx context.Context, clientID, secret, client string) (*App, *Secret, error) {
	// A client address that failed too often is still let through with
	// the right secret (a guess cannot find one: secrets have 190 bits).
	blocked := s.throttle.wait(addrKey(client))
	invalid := func(appID, reason string) error {
		if blocked > 0 {
			return &ThrottledError{RetryAfter: blocked}
		}
		if err := s.fail(client, appID, reason); errors.Is(err, ErrThrottled) {
			return err
		}
		return fmt.Errorf("%w: %s", ErrInvalidClient, reason)
	}
	app, err := s.store.App(ctx, clientID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil, invalid("", "client_unknown")
	}
	if err != nil {
		return nil, nil, err
	}
	// An application has at most two secrets: compare the presented one
	// with each, in constant time.
	secs, err := s.store.Secrets(ctx, app.ID)
	if err != nil {
		return nil, nil, err
	}
	hash := HashSecret(secret)
	var sec *Secret
	for _, x := range secs {
		if subtle.ConstantTimeCompare(x.Hash, hash) == 1 {
			sec = x
		}
	}
	if sec == nil {
		return nil, nil, invalid(app.ID, "secret_wrong")
	}
	switch {
	case !sec.Enabled:
		return nil, nil, invalid(app.ID, "secret_disabled")
	case !app.Enabled:
		return nil, nil, invalid(app.ID, "app_disabled")
	}
	return app, sec, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) verifyAccessToken(ctx context.Context, raw string, now time.Time) (*Principal, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, &FailureError{Reason: "access_token_malformed"}
	}
	// RFC 9068 §4: a JWT of another type (an ID token, a logout token …)
	// signed with the same keys is not an access token.
	if !accessTokenType(tok.Headers[0]) {
		return nil, &FailureError{Reason: "access_token_wrong_type"}
	}
	key, err := s.keys.byID(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	if key == nil || key.alg != jose.ES256 {
		return nil, &FailureError{Reason: "access_token_unknown_key"}
	}
	var claims tokenClaims
	if err := tok.Claims(key.priv.Public(), &claims); err != nil {
		return nil, &FailureError{Reason: "access_token_bad_signature"}
	}
	// RFC 9068 §2.2: exp is required (go-jose checks it only when present).
	if claims.Expiry == nil {
		return nil, &FailureError{Reason: "access_token_no_expiry", AppID: claims.Subject}
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: s.Issuer(), AnyAudience: jwt.Audience{audience}, Time: now}, 0); err != nil {
		reason := "access_token_invalid"
		if errors.Is(err, jwt.ErrExpired) {
			reason = "access_token_expired"
		}
		return nil, &FailureError{Reason: reason, AppID: claims.Subject}
	}
	// Gatehouse issues every access token with an iat, and an exp
	// AccessTokenLifetime after it (iat is not in the future: checked
	// above). A token without iat, or that lives longer (one forged with
	// the signing key to last ten years), was not issued by this
	// configuration.
	if claims.IssuedAt == nil {
		return nil, &FailureError{Reason: "access_token_no_issued_at", AppID: claims.Subject}
	}
	if claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > s.opt.AccessTokenLifetime+lifetimeLeeway {
		return nil, &FailureError{Reason: "access_token_lifetime_too_long", AppID: claims.Subject}
	}
	app, err := s.store.App(ctx, claims.Subject)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, &FailureError{Reason: "app_deleted"}
	}
	if err != nil {
		return nil, err
	}
	sec, err := s.store.Secret(ctx, claims.SecretID)
	switch {
	case errors.Is(err, directory.ErrNotFound) || (err == nil && sec.AppID != app.ID):
		return nil, &FailureError{Reason: "secret_deleted", AppID: app.ID}
	case err != nil:
		return nil, err
	case !sec.Enabled:
		return nil, &FailureError{Reason: "secret_disabled", AppID: app.ID}
	case !app.Enabled:
		return nil, &FailureError{Reason: "app_disabled", AppID: app.ID}
	}
	// The token's scopes, as far as the application still has them.
	var scopes Scopes
	granted, _ := ParseScopes(claims.Scope)
	for _, sc := range granted {
		if app.Scopes.Has(sc) {
			scopes = append(scopes, sc)
		}
	}
	return &Principal{App: app, Scopes: scopes, SecretID: sec.ID, Expires: claims.Expiry.Time()}, nil
}

// ---- signing keys

// The algorithms of the signing keys: ES256 signs access tokens (and ID
// tokens of clients that ask for it), RS256 the ID tokens of the rest.
const (
	AlgES256 = string(jose.ES256)
	AlgRS256 = string(jose.RS256)
)

// SigningAlgorithms lists the algorithms Gatehouse signs JWTs with.
func SigningAlgorithms() []string { return []string{AlgES256, AlgRS256} }

// rsaKeyBits is the size of the RS256 keys (NIST SP 800-57: 2048 bits
// stay acceptable through 2030; the keys rotate every KeyRotation).
const rsaKeyBits = 2048

// keyring holds the signing keys, loaded from the store and rotated on
// use: for each algorithm the newest key signs; a key older than the
// rotation period is retired (a new one takes over) and stays published
// until every token it signed has expired. The RS256 key is made the
// first time one is needed (an ID token, the JWKS), so that a hub without
// OpenID Connect never spends the time.
type keyring struct {
	s       *Service
	mu      sync.Mutex
	version int64
	keys    []*loadedKey // newest first
}

type loadedKey struct {
	rec    *SigningKey
	alg    jose.SignatureAlgorithm
	priv   crypto.Signer
	signer jose.Signer // typ at+jwt

	mu      sync.Mutex
	signers map[string]jose.Signer // other typ values (SignJWT)
}

// signerFor returns a signer that writes typ in the JWS header.
func (lk *loadedKey) signerFor(typ string) (jose.Signer, error) {
	if typ == "at+jwt" {
		return lk.signer, nil
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if sg, ok := lk.signers[typ]; ok {
		return sg, nil
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: lk.alg, Key: jose.JSONWebKey{Key: lk.priv, KeyID: lk.rec.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, err
	}
	if lk.signers == nil {
		lk.signers = map[string]jose.Signer{}
	}
	lk.signers[typ] = sg
	return sg, nil
}

func newKeyring(s *Service) *keyring { return &keyring{s: s, version: -1} }

func (k *keyring) load(ctx context.Context) error {
	v, err := k.s.store.CredentialsVersion(ctx)
	if err != nil {
		return err
	}
	if v == k.version && k.keys != nil {
		return nil
	}
	recs, err := k.s.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	var keys []*loadedKey
	for _, r := range recs {
		lk, err := loadKey(r)
		if err != nil {
			return err
		}
		keys = append(keys, lk)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].rec.Created.After(keys[j].rec.Created) })
	k.keys, k.version = keys, v
	return nil
}

// loadKey parses a stored key; its type must be the one its algorithm
// names (an RSA key stored as ES256 is refused, and the reverse).
func loadKey(r *SigningKey) (*loadedKey, error) {
	block, _ := pem.Decode(r.PrivatePEM)
	if block == nil {
		return nil, fmt.Errorf("signing key %s: not PEM", r.ID)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", r.ID, err)
	}
	var priv crypto.Signer
	switch key := key.(type) {
	case *ecdsa.PrivateKey:
		if r.Algorithm != AlgES256 || key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s: an ECDSA key must be ES256, on P-256", r.ID)
		}
		priv = key
	case *rsa.PrivateKey:
		if r.Algorithm != AlgRS256 || key.N.BitLen() < rsaKeyBits {
			return nil, fmt.Errorf("signing key %s: an RSA key must be RS256 and have at least %d bits", r.ID, rsaKeyBits)
		}
		priv = key
	default:
		return nil, fmt.Errorf("signing key %s: neither an ECDSA nor an RSA key", r.ID)
	}
	alg := jose.SignatureAlgorithm(r.Algorithm)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: r.ID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	return &loadedKey{rec: r, alg: alg, priv: priv, signer: signer}, nil
}

// newest returns the newest key of alg, or nil.
func (k *keyring) newest(alg jose.SignatureAlgorithm) *loadedKey {
	for _, lk := range k.keys {
		if lk.alg == alg {
			return lk
		}
	}
	return nil
}

// current returns the key of alg that signs now, creating or rotating
// keys as needed.
func (k *keyring) current(ctx context.Context, alg jose.SignatureAlgorithm) (*loadedKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	now := k.s.now()
	if lk := k.newest(alg); lk != nil && lk.rec.Retired.IsZero() && now.Sub(lk.rec.Created) < k.s.opt.KeyRotation {
		return lk, nil
	}
	if _, err := k.rotate(ctx, directory.Actor{Kind: "system", RequestID: "key-rotation"}, []jose.SignatureAlgorithm{alg}); err != nil {
		return nil, err
	}
	return k.newest(alg), nil
}

// newKey makes a private key for alg.
func newKey(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, rsaKeyBits)
	}
	return nil, fmt.Errorf("no signing keys for %s", alg)
}

// rotate makes a new signing key for each of algs, retires the previous
// ones of those algorithms and deletes the keys retired long enough ago
// that no token they signed is still valid. Called with k.mu held.
func (k *keyring) rotate(ctx context.Context, actor directory.Actor, algs []jose.SignatureAlgorithm) ([]*SigningKey, error) {
	now := k.s.stamp()
	var recs []*SigningKey
	for _, alg := range algs {
		priv, err := newKey(alg)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		recs = append(recs, &SigningKey{ID: "k" + now.Format("20060102") + "-" + randomID()[:8], Algorithm: string(alg),
			PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), Created: now})
	}
	keep := k.s.opt.AccessTokenLifetime + time.Hour
	err := k.s.store.WriteAuth(ctx, func(tx Tx) error {
		for _, old := range k.keys {
			switch {
			case old.rec.Retired.IsZero():
				if !slices.Contains(algs, old.alg) {
					continue
				}
				if err := tx.RetireSigningKey(ctx, old.rec.ID, now); err != nil {
					return err
				}
			case now.Sub(old.rec.Retired) > keep:
				if err := tx.DeleteSigningKey(ctx, old.rec.ID); err != nil {
					return err
				}
			}
		}
		for _, rec := range recs {
			if err := tx.InsertSigningKey(ctx, rec); err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, k.s.audit(actor, "key.rotate", "SigningKey", rec.ID, nil, map[string]string{"kid": rec.ID, "alg": rec.Algorithm})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	k.version = -1
	return recs, k.load(ctx)
}

// byID returns the key kid, or nil if there is none.
func (k *keyring) byID(ctx context.Context, kid string) (*loadedKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	for _, lk := range k.keys {
		if lk.rec.ID == kid {
			return lk, nil
		}
	}
	return nil, nil
}

// RotateKeys makes a new signing key of each algorithm now (ES256, then
// RS256) and returns them.
func (s *Service) RotateKeys(ctx context.Context, actor directory.Actor) ([]*SigningKey, error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if err := s.keys.load(ctx); err != nil {
		return nil, err
	}
	return s.keys.rotate(ctx, actor, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
}

// SigningKeys lists the signing keys, newest first (private parts
// included: callers show only ids and dates).
func (s *Service) SigningKeys(ctx context.Context) ([]*SigningKey, error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	if err := s.keys.load(ctx); err != nil {
		return nil, err
	}
	out := make([]*SigningKey, len(s.keys.keys))
	for i, lk := range s.keys.keys {
		out[i] = lk.rec
	}
	return out, nil
}

// JWKS returns the public keys that verify the tokens Gatehouse signs:
// the current key of each algorithm and the retired ones still published,
// each with its kid, alg and use.
func (s *Service) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		if _, err := s.keys.current(ctx, alg); err != nil {
			return nil, err
		}
	}
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	set := &jose.JSONWebKeySet{}
	for _, lk := range s.keys.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: lk.priv.Public(), KeyID: lk.rec.ID, Algorithm: string(lk.alg), Use: "sig"})
	}
	return set, nil
}

// SignJWT signs claims as a JWT with the key of alg (AlgES256 or
// AlgRS256) that signs now (published in the JWKS, rotated), writing typ
// in the JWS header: "at+jwt" for an access token (RFC 9068), "JWT" for an
// OpenID Connect ID token. What the claims say is the caller's business;
// the typ keeps one kind of token from passing for another.
func (s *Service) SignJWT(ctx context.Context, alg, typ string, claims any) (string, error) {
	if !slices.Contains(SigningAlgorithms(), alg) {
		return "", fmt.Errorf("sign %s: no signing keys for %q", typ, alg)
	}
	key, err := s.keys.current(ctx, jose.SignatureAlgorithm(alg))
	if err != nil {
		return "", err
	}
	sg, err := key.signerFor(typ)
	if err != nil {
		return "", err
	}
	raw, err := jwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	return raw, nil
}

// ErrBadJWT is VerifyJWT's error for a token that is not a JWT Gatehouse
// signed as that type.
var ErrBadJWT = errors.New("not a valid token")

// VerifyJWT checks that raw is a JWT of type typ (its JWS typ header,
// compared case-insensitively, with or without "application/") signed by
// one of the published keys with that key's own algorithm, and decodes its
// claims into out. It checks no claim: the caller checks iss, aud, exp and
// the rest. Every failure is ErrBadJWT, except the store's.
func (s *Service) VerifyJWT(ctx context.Context, raw, typ string, out any) error {
	if len(raw) > 8192 {
		return ErrBadJWT
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return ErrBadJWT
	}
	h := tok.Headers[0]
	got, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(got, typ) && !strings.EqualFold(got, "application/"+typ) {
		return ErrBadJWT
	}
	key, err := s.keys.byID(ctx, h.KeyID)
	if err != nil {
		return err
	}
	// The header's alg must be the key's (no algorithm confusion).
	if key == nil || h.Algorithm != string(key.alg) {
		return ErrBadJWT
	}
	if err := tok.Claims(key.priv.Public(), out); err != nil {
		return ErrBadJWT
	}
	return nil
}

// AccessTokenLifetime is how long issued access tokens live.
func (s *Service) AccessTokenLifetime() time.Duration { return s.opt.AccessTokenLifetime }
