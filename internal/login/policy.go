package login

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The factor policy. A session needs the most of:
//   - one factor;
//   - the application's minFactors (auth.Access), when the login is for one;
//   - the factors configured for each group the person is a direct member
//     of (login.group_factors);
//   - two, when she is a member of an administrators' group
//     (login.admin_groups);
//   - what the relying party asks for (Requirement.MinFactors).

// The groups are matched by id: their references are bound to ids
// (binding.go), never compared with display names at request time, so a
// rename keeps the policy where it was.

// inGroup reports whether the person (her groups refs) is a member of one
// of the groups ref is bound to.
func (s *Service) inGroup(ctx context.Context, refs []directory.GroupRef, ref string) (bool, error) {
	ids, err := s.boundIDs(ctx, ref)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(refs, func(g directory.GroupRef) bool { return slices.Contains(ids, g.ID) }), nil
}

// RequiredFactors returns the factors userID needs for appID ("" for
// Gatehouse's own pages) when the relying party asks for at least min.
func (s *Service) RequiredFactors(ctx context.Context, userID, appID string, least int) (int, error) {
	need := max(1, least)
	u, err := s.store.User(ctx, userID, directory.ReadOptions{Groups: true})
	if err != nil {
		return 0, wrapf("factor policy", err)
	}
	// An error binding a reference fails the check (closed), never skips
	// the group's requirement.
	for ref, n := range s.opt.Policy.GroupFactors {
		in, err := s.inGroup(ctx, u.Groups, ref)
		if err != nil {
			return 0, wrapf("factor policy", err)
		}
		if in {
			need = max(need, n)
		}
	}
	for _, ref := range s.opt.Policy.AdminGroups {
		in, err := s.inGroup(ctx, u.Groups, ref)
		if err != nil {
			return 0, wrapf("factor policy", err)
		}
		if in {
			need = max(need, 2)
		}
	}
	if appID != "" {
		a, err := s.apps.App(ctx, appID)
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			return 0, wrapf("factor policy", err)
		}
		if a != nil {
			need = max(need, a.Access.MinFactors)
		}
	}
	return min(need, auth.MaxFactors), nil
}

// Satisfies reports whether sess meets req: not forced to re-authenticate,
// authenticated at or after req.Since and within req.MaxAge, with the
// factors the policy and req ask for.
func (s *Service) Satisfies(ctx context.Context, sess *Session, req Requirement) (bool, error) {
	if sess == nil {
		return false, nil
	}
	if req.Force && req.Since.IsZero() {
		return false, nil
	}
	if !req.Since.IsZero() && sess.AuthTime.Before(req.Since.Truncate(time.Microsecond)) {
		return false, nil
	}
	if req.MaxAge > 0 && s.stamp().Sub(sess.AuthTime) > req.MaxAge {
		return false, nil
	}
	need, err := s.RequiredFactors(ctx, sess.UserID, req.AppID, req.MinFactors)
	if err != nil {
		return false, err
	}
	return sess.Factors >= need, nil
}

// Allowed reports whether userID may use application appID: an enabled
// SSO application, an active person, a member of one of its allowed groups
// (or the application allows everyone). If not, why says so in a sentence.
func (s *Service) Allowed(ctx context.Context, userID, appID string) (bool, string, error) {
	a, err := s.apps.App(ctx, appID)
	if errors.Is(err, directory.ErrNotFound) {
		return false, "This application is not known to Gatehouse.", nil
	}
	if err != nil {
		return false, "", wrapf("allowed", err)
	}
	if !a.Kind.SSO() {
		return false, fmt.Sprintf("%s is not an application people sign in to.", a.Name), nil
	}
	if !a.Enabled {
		return false, fmt.Sprintf("%s is disabled in Gatehouse.", a.Name), nil
	}
	u, err := s.store.User(ctx, userID, directory.ReadOptions{Groups: true})
	if errors.Is(err, directory.ErrNotFound) {
		return false, "Your account no longer exists.", nil
	}
	if err != nil {
		return false, "", wrapf("allowed", err)
	}
	if !u.Active {
		return false, "Your account is disabled.", nil
	}
	if opensTo(a, u) {
		return true, "", nil
	}
	if len(a.Access.AllowedGroups) == 0 {
		return false, fmt.Sprintf("Nobody has been given access to %s yet: an administrator must allow groups to use it.", a.Name), nil
	}
	names := s.groupNames(ctx, a.Access.AllowedGroups)
	return false, fmt.Sprintf("You are not a member of a group allowed to use %s (%s). Ask an administrator for access.", a.Name, strings.Join(names, ", ")), nil
}

// groupNames names groups by id, for messages (the id when a group has
// gone).
func (s *Service) groupNames(ctx context.Context, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		name := id
		if g, err := s.store.Group(ctx, id, directory.ReadOptions{}); err == nil {
			name = g.DisplayName
		}
		out = append(out, name)
	}
	return out
}

// opensTo reports whether a's access rule lets u in: everyone, or a
// member of one of its allowed groups (u read with its groups).
func opensTo(a *auth.App, u *directory.User) bool {
	if a.Access.Everyone {
		return true
	}
	for _, g := range a.Access.AllowedGroups {
		if slices.ContainsFunc(u.Groups, func(r directory.GroupRef) bool { return r.ID == g }) {
			return true
		}
	}
	return false
}

// AppsFor lists the SSO applications userID may use, by name: those
// Allowed would allow, decided with one read of her record for all of
// them (not two reads, and the names of the groups, per application).
func (s *Service) AppsFor(ctx context.Context, userID string) ([]*auth.App, error) {
	apps, err := s.apps.Apps(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, userID, directory.ReadOptions{Groups: true})
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapf("apps for", err)
	}
	if !u.Active {
		return nil, nil
	}
	var out []*auth.App
	for _, a := range apps {
		if a.Kind.SSO() && a.Enabled && opensTo(a, u) {
			out = append(out, a)
		}
	}
	return out, nil
}

// App returns an application (for pages that name it).
func (s *Service) App(ctx context.Context, id string) (*auth.App, error) { return s.apps.App(ctx, id) }

// User returns a user (for pages that name her).
func (s *Service) User(ctx context.Context, id string) (*directory.User, error) {
	return s.store.User(ctx, id, directory.ReadOptions{})
}

// Profile returns a user with her groups (for her profile page).
func (s *Service) Profile(ctx context.Context, id string) (*directory.User, error) {
	return s.store.User(ctx, id, directory.ReadOptions{Groups: true})
}

// Delegated returns the domain of the directory that checks userID's
// password ("" when it is Gatehouse's own).
func (s *Service) Delegated(ctx context.Context, userID string) (string, error) {
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return "", err
	}
	d, _, err := s.delegated(ctx, u)
	if err != nil || d == nil {
		return "", err
	}
	return d.Domain(), nil
}

// FindUser finds a user by userName (ignoring case), else by id.
func (s *Service) FindUser(ctx context.Context, ref string) (*directory.User, error) {
	id, err := s.store.UserIDByUserName(ctx, ref)
	if errors.Is(err, directory.ErrNotFound) {
		id = ref
	} else if err != nil {
		return nil, err
	}
	return s.store.User(ctx, id, directory.ReadOptions{})
}

// IsAdmin reports whether userID is a member of one of the
// administrators' groups (login.admin_groups), directly — by the groups'
// ids the names are bound to, like the factor policy.
func (s *Service) IsAdmin(ctx context.Context, userID string) (bool, error) {
	if len(s.opt.Policy.AdminGroups) == 0 {
		return false, nil
	}
	u, err := s.store.User(ctx, userID, directory.ReadOptions{Groups: true})
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, wrapf("admin check", err)
	}
	if !u.Active {
		return false, nil
	}
	for _, ref := range s.opt.Policy.AdminGroups {
		in, err := s.inGroup(ctx, u.Groups, ref)
		if err != nil {
			return false, wrapf("admin check", err)
		}
		if in {
			return true, nil
		}
	}
	return false, nil
}
