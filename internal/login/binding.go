package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The policy's groups (login.admin_groups, login.group_factors) are
// configured by id or display name, and bound to group ids: a name binds
// to the group that has it the first time one does, and the binding is
// recorded (in the store's sync state, one scope per reference:
// BindingScope followed by the reference) and never moves. A binding is
// written only if the reference has none: when servers bind at once the
// first binding wins and every server reads it back, so none is lost or
// overwritten. So a group keeps its policy when it is renamed (a SCIM PATCH of
// displayName), and a group created later with a bound name does not
// gain it. A name no group has yet binds when one first has it (a
// configuration written before the directory was synchronised); a bound
// group that was deleted leaves its name bound to nothing until the
// configuration names another group by id.

// BindingScope begins the sync-state scope where a reference's binding
// is recorded (the reference follows it).
const BindingScope = "login:policy-group:"

// BindingStore finds groups by name and records the bindings. The stores
// implement it; without it, only ids bind.
type BindingStore interface {
	// GroupIDByDisplayName finds a group by display name, ignoring case
	// (directory.ErrNotFound when none has it).
	GroupIDByDisplayName(ctx context.Context, displayName string) (string, error)
	SyncState(ctx context.Context, scope string) (string, error)
	// AddSyncState saves state as the state of scope unless scope has one,
	// and returns the state scope has: state, or the one saved first.
	AddSyncState(ctx context.Context, scope, state string) (string, error)
}

// Binding is where a configured group reference points.
type Binding struct {
	Ref string `json:"-"`
	// IDs are the groups bound: one, or several when the reference was
	// both one group's id and another's name (both keep the policy: fail
	// closed); none while no group has the name.
	IDs []string `json:"ids"`
	// Bound is when the binding was made.
	Bound time.Time `json:"bound"`
	// Warning says what is wrong with the reference ("" when nothing is).
	Warning string `json:"-"`
}

// bindings caches the recorded bindings of a Service.
type bindings struct {
	mu    sync.Mutex
	bound map[string]*Binding // by reference, once bound
}

// policyRefs are the references the policy configures.
func (p Policy) refs() []string {
	var out []string
	for _, r := range p.AdminGroups {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for r := range p.GroupFactors {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// BindPolicy binds the policy's group references (as RequiredFactors
// does on its first use) and returns them, with a warning for each
// reference that matches no group or several; the server logs the
// warnings when it starts.
func (s *Service) BindPolicy(ctx context.Context) ([]Binding, error) {
	var out []Binding
	for _, ref := range s.opt.Policy.refs() {
		b, err := s.bind(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
		if b.Warning != "" {
			s.opt.Log.WarnContext(ctx, "login policy: "+b.Warning)
		}
	}
	return out, nil
}

// bind returns the binding of ref, binding it if it can.
func (s *Service) bind(ctx context.Context, ref string) (*Binding, error) {
	s.binds.mu.Lock()
	defer s.binds.mu.Unlock()
	if b := s.binds.bound[ref]; b != nil {
		return s.check(ctx, b)
	}
	bs, ok := s.store.(BindingStore)
	if !ok {
		// Without a store that binds names: an id binds to itself.
		return &Binding{Ref: ref, IDs: []string{ref}}, nil
	}
	raw, err := bs.SyncState(ctx, BindingScope+ref)
	if err != nil {
		return nil, wrapf("policy bindings", err)
	}
	if raw != "" {
		return s.recorded(ctx, ref, raw)
	}
	// Not bound yet: the group whose id it is, and the group whose name it
	// is.
	var ids []string
	if _, err := s.store.Group(ctx, ref, directory.ReadOptions{}); err == nil {
		ids = append(ids, ref)
	} else if !errors.Is(err, directory.ErrNotFound) {
		return nil, wrapf("bind policy group", err)
	}
	if id, err := bs.GroupIDByDisplayName(ctx, ref); err == nil && !slices.Contains(ids, id) {
		ids = append(ids, id)
	} else if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return nil, wrapf("bind policy group", err)
	}
	if len(ids) == 0 {
		return &Binding{Ref: ref, Warning: fmt.Sprintf("%q matches no group (by id or name): it applies to nobody until a group has that name", ref)}, nil
	}
	mine, err := json.Marshal(&Binding{IDs: ids, Bound: s.stamp()})
	if err != nil {
		return nil, err
	}
	// Another server may have bound ref since it was read (to another
	// group, if the name moved in between): the first binding stands.
	raw, err = bs.AddSyncState(ctx, BindingScope+ref, string(mine))
	if err != nil {
		return nil, wrapf("bind policy group", err)
	}
	return s.recorded(ctx, ref, raw)
}

// recorded caches and checks the binding of ref recorded as raw; the
// caller holds s.binds.mu.
func (s *Service) recorded(ctx context.Context, ref, raw string) (*Binding, error) {
	b := &Binding{}
	if err := json.Unmarshal([]byte(raw), b); err != nil {
		return nil, wrapf("policy bindings", err)
	}
	b.Ref = ref
	s.binds.bound[ref] = b
	return s.check(ctx, b)
}

// check returns b with a warning if it binds several groups or a group
// that no longer exists.
func (s *Service) check(ctx context.Context, b *Binding) (*Binding, error) {
	out := *b
	out.Warning = ""
	if len(b.IDs) > 1 {
		out.Warning = fmt.Sprintf("%q names several groups (%v, by id and by name): the policy applies to the members of each; configure one id", b.Ref, b.IDs)
	}
	for _, id := range b.IDs {
		if _, err := s.store.Group(ctx, id, directory.ReadOptions{}); errors.Is(err, directory.ErrNotFound) {
			out.Warning = fmt.Sprintf("%q is bound to group %s, which no longer exists: it applies to nobody (a new group of that name is not bound); configure the id of the group meant", b.Ref, id)
		} else if err != nil {
			return nil, wrapf("policy bindings", err)
		}
	}
	return &out, nil
}

// boundIDs returns the group ids ref is bound to.
func (s *Service) boundIDs(ctx context.Context, ref string) ([]string, error) {
	s.binds.mu.Lock()
	b := s.binds.bound[ref]
	s.binds.mu.Unlock()
	if b != nil {
		return b.IDs, nil
	}
	nb, err := s.bind(ctx, ref)
	if err != nil {
		return nil, err
	}
	return nb.IDs, nil
}
