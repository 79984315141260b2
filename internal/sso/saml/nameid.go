package saml

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// A NameID names exactly one Gatehouse account per service provider. Two
// accounts can derive one NameID: emails are not unique in Gatehouse
// (GitBook's lower-cased email), and the Alibaba Cloud user SSO NameID
// drops the domain of the user name ("alice@example.com" and
// "alice@contractor.example" are both "alice@<alias>.onaliyun.com").
// The service provider would then sign two people in to one account. So:
//
//   - an account that a push linked to a downstream user (the push target
//     of NameIDRule.PushTarget) is named as the push named it downstream:
//     the push never gives one downstream name to two accounts;
//   - an account that push did not link is refused (its derived name could
//     be the downstream name the push gave another account);
//   - without a push target the NameID is derived, and the sign-in is
//     refused when another active account derives the same NameID,
//     compared without regard to case.

// Namesakes finds the accounts whose NameID could equal another's.
type Namesakes interface {
	// Namesakes returns the active accounts whose source value (email,
	// userName, or for aliyunUser the userName's part before "@") may
	// equal value, without regard to case: a superset, which the caller
	// narrows with the mapping itself.
	Namesakes(ctx context.Context, source, value string) ([]*directory.User, error)
}

// Downstream tells the user name a push gave an account downstream.
type Downstream interface {
	// DownstreamName returns the userName the push of target sends for u,
	// when the push linked u to a downstream account (ok false when it did
	// not, or when target is not a push target).
	DownstreamName(ctx context.Context, target string, u *directory.User) (name string, ok bool, err error)
}

// CollisionError is a sign-in refused because another account would be
// given the same NameID.
type CollisionError struct {
	NameID  string
	OtherID string // the other account's id (for the audit record)
}

func (e *CollisionError) Error() string { return "another account has the same NameID" }

// subjectFor maps u for sp: its NameID (from the push's link if there is
// one) and attributes, and refuses a NameID another active account shares.
func (p *IdP) subjectFor(ctx context.Context, sp *ServiceProvider, u *directory.User, transientID string) (*Subject, error) {
	s := sp.Settings
	if s.NameID.Format == "transient" || s.NameID.Source == "id" {
		return s.Map(u, transientID) // an id, or a transient NameID, is one account's
	}
	linked, err := p.linkedNameID(ctx, s, u)
	if err != nil {
		return nil, err
	}
	out, err := s.mapAs(u, transientID, linked)
	if err != nil || linked != "" {
		return out, err
	}
	if s.NameID.PushTarget != "" && p.opt.Downstream != nil {
		// The push makes this service provider's accounts, and made none
		// for her: a derived name could be the downstream name of another
		// (the push transliterates: "zhangwei@…" derives the name it gave
		// 张伟), which no namesake lookup by user name finds. Refused.
		return nil, refuse("no account was made for you there by Gatehouse's provisioning yet; ask an administrator to provision your account")
	}
	if p.opt.Namesakes == nil {
		return nil, fmt.Errorf("saml: no namesake lookup configured")
	}
	value := out.NameID
	if s.NameID.Source == "aliyunUser" {
		value, _, _ = strings.Cut(out.NameID, "@")
	}
	others, err := p.opt.Namesakes.Namesakes(ctx, s.NameID.Source, value)
	if err != nil {
		return nil, fmt.Errorf("saml: namesakes: %w", err)
	}
	for _, o := range others {
		if o.ID == u.ID || !o.Active {
			continue
		}
		l, err := p.linkedNameID(ctx, s, o)
		if err != nil {
			return nil, err
		}
		theirs, err := s.mapAs(o, transientID, l)
		if err != nil {
			continue // an account without a NameID shares none
		}
		if strings.EqualFold(theirs.NameID, out.NameID) {
			return nil, &CollisionError{NameID: out.NameID, OtherID: o.ID}
		}
	}
	return out, nil
}

// linkedNameID is u's NameID from the push's link ("" when s names no
// push target, or u has no link there).
func (p *IdP) linkedNameID(ctx context.Context, s *Settings, u *directory.User) (string, error) {
	if s.NameID.PushTarget == "" || p.opt.Downstream == nil {
		return "", nil
	}
	name, ok, err := p.opt.Downstream.DownstreamName(ctx, s.NameID.PushTarget, u)
	if err != nil {
		return "", fmt.Errorf("saml: downstream name: %w", err)
	}
	if !ok || name == "" {
		return "", nil
	}
	switch s.NameID.Source {
	case "aliyunUser":
		// The RAM user's name, before any logon suffix the mapping added.
		local, _, _ := strings.Cut(name, "@")
		return strings.ToLower(local) + "@" + s.AliyunUser.Domain, nil
	case "email":
		return strings.ToLower(name), nil
	}
	return name, nil
}
