package directory

import "context"

// A user's manager (the enterprise extension's manager.value) refers to
// another user. For a caller with a synchronization scope, a manager that is
// not a user inside the scope — outside it, or no user at all — is not
// there: reads leave it out, filters and sorts treat it as absent (the
// stores' filter compilers guard it the same way), and writes that do not
// set a manager keep it, as replacing a group's members keeps the members
// the caller cannot see.

// missingFunc is Store.MissingUsers or Tx.MissingUsers.
type missingFunc func(ctx context.Context, ids []string, scope *SyncScope) ([]string, error)

// managerID returns the id u's manager refers to, or "".
func managerID(u *User) string {
	ent, _ := u.Attrs[EnterpriseURN].(map[string]any)
	m, _ := ent["manager"].(map[string]any)
	id, _ := m["value"].(string)
	return id
}

// withoutManager returns a copy of u without its manager, and the manager
// removed.
func withoutManager(u *User) (*User, any) {
	c := u.Clone()
	ent, _ := c.Attrs[EnterpriseURN].(map[string]any)
	mgr := ent["manager"]
	delete(ent, "manager")
	if len(ent) == 0 {
		delete(c.Attrs, EnterpriseURN)
	}
	return c, mgr
}

// restoreManager gives u the manager mgr back when u sets none.
func restoreManager(u *User, mgr any) {
	if mgr == nil || managerID(u) != "" {
		return
	}
	if u.Attrs == nil {
		u.Attrs = Attrs{}
	}
	ent, _ := u.Attrs[EnterpriseURN].(map[string]any)
	next := make(map[string]any, len(ent)+1)
	for k, v := range ent {
		next[k] = v
	}
	next["manager"] = mgr
	u.Attrs[EnterpriseURN] = next
}

// scopedUsers returns what a caller with scope sees of users: the users
// themselves, with the managers it cannot see left out (in place). hidden
// maps the users whose manager was left out to that manager.
func scopedUsers(ctx context.Context, missing missingFunc, scope *SyncScope, users ...*User) (hidden map[*User]any, err error) {
	if scope == nil {
		return nil, nil
	}
	var ids []string
	for _, u := range users {
		if u == nil {
			continue
		}
		if id := managerID(u); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	gone, err := missing(ctx, ids, scope)
	if err != nil || len(gone) == 0 {
		return nil, err
	}
	out := map[string]bool{}
	for _, id := range gone {
		out[id] = true
	}
	hidden = map[*User]any{}
	for _, u := range users {
		if u != nil && out[managerID(u)] {
			c, mgr := withoutManager(u)
			*u = *c
			hidden[u] = mgr
		}
	}
	return hidden, nil
}

// checkManager checks the manager a change gives a user (sent: its id, as
// the change sends it, before a manager the caller cannot see is kept):
// it must be a user the caller can see, else the change is refused (400
// invalidValue), the same way whether the id names no user or one outside
// the caller's scope. For a caller without a scope, the manager the user
// has already (cur's) passes: one deleted since stays until it is changed.
func checkManager(ctx context.Context, tx Tx, p Profile, cur *User, sent string) error {
	if sent == "" {
		return nil
	}
	sc := p.Scope.restriction()
	if sc == nil && cur != nil && sent == managerID(cur) {
		return nil
	}
	missing, err := tx.MissingUsers(ctx, []string{sent}, sc)
	if err != nil {
		return err
	}
	switch {
	case len(missing) == 0:
		return nil
	case sc != nil:
		return Errorf(ErrInvalid, "manager", "manager %q is not a user inside the application's synchronization scope", sent)
	}
	return Errorf(ErrInvalid, "manager", "manager %q is not a user", sent)
}
