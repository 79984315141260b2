package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// Write runs fn as one atomic write: committed if fn returns nil, without
// effect otherwise. Writes go through the group committer (commit.go).
func (s *Store) Write(ctx context.Context, fn func(directory.Tx) error) error {
	return s.submit(ctx, func(t *tx) error { return fn(t) })
}

type tx struct{ tx cachedTx }

// conflict maps a uniqueness violation to a domain conflict naming the
// attribute.
func conflict(err error, op string) error {
	col, ok := isUnique(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	field, msg := "", "a unique value is already taken"
	switch col {
	case "users.user_name_lower":
		field, msg = "userName", "userName is already taken"
	case "user_external_ids.domain", "group_external_ids.domain", "orgs.external_id":
		field, msg = "externalId", "externalId is already taken"
	case "groups.display_name_lower":
		field, msg = "displayName", "a group with this displayName already exists"
	case "users.id", "groups.id", "orgs.id":
		field, msg = "id", "id is already taken"
	case "apps.name":
		field, msg = "name", "an application with this name already exists"
	}
	return &directory.Error{Kind: directory.ErrConflict, Op: op, Field: field, Msg: msg}
}

func (t *tx) UserForUpdate(ctx context.Context, id, domain string) (*directory.User, error) {
	return getUser(ctx, t.tx, id, directory.ReadOptions{Domain: domain})
}

// lookupID runs query, which selects an id by the last of args.
func (t *tx) lookupID(ctx context.Context, query, what string, args ...string) (string, error) {
	var id string
	err := t.tx.QueryRowContext(ctx, query, stringArgs(args)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound(what, args[len(args)-1])
	}
	return id, err
}

func (t *tx) UserIDByExternalID(ctx context.Context, domain, externalID string) (string, error) {
	return t.lookupID(ctx, `SELECT u.id FROM user_external_ids x JOIN users u ON u.seq = x.user_seq WHERE x.domain = ? AND x.external_id = ?`,
		"User", domain, externalID)
}

func (t *tx) UserIDByUserName(ctx context.Context, userName string) (string, error) {
	return t.lookupID(ctx, `SELECT id FROM users WHERE user_name_lower = ?`, "User", strings.ToLower(userName))
}

// setExternalID sets or (with "") removes the externalId in domain of the
// row id of table (users or groups), kept in side (keyed by key).
func (t *tx) setExternalID(ctx context.Context, table, side, key, id, domain, externalID, op string) error {
	if externalID == "" {
		_, err := t.tx.ExecContext(ctx, `DELETE FROM `+side+` WHERE `+key+` = (SELECT seq FROM `+table+` WHERE id = ?) AND domain = ?`, id, domain)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO `+side+` (`+key+`, domain, external_id) SELECT seq, ?, ? FROM `+table+` WHERE id = ?
		ON CONFLICT (`+key+`, domain) DO UPDATE SET external_id = excluded.external_id`, domain, externalID, id)
	if err != nil {
		return conflict(err, op)
	}
	return nil
}

func (t *tx) SetUserExternalID(ctx context.Context, id, domain, externalID string) error {
	return t.setExternalID(ctx, "users", "user_external_ids", "user_seq", id, domain, externalID, "set user externalId")
}

func (t *tx) InsertUser(ctx context.Context, u *directory.User) error {
	attrs, err := encodeAttrs(u.Attrs)
	if err != nil {
		return err
	}
	var seq int64
	err = t.tx.QueryRowContext(ctx, `INSERT INTO users (id, org_id, user_name, user_name_lower, display_name, display_name_lower, active, password_hash, attrs, created, modified, version,
			attrs_version, attrs_modified)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		u.ID, u.OrgID, u.UserName, strings.ToLower(u.UserName), nullStr(u.DisplayName), nullStr(strings.ToLower(u.DisplayName)),
		boolInt(u.Active), nullStr(u.PasswordHash), attrs, fmtTime(u.Created), fmtTime(u.Modified), u.Version,
		u.AttrsVersion, fmtTime(u.AttrsModified)).Scan(&seq)
	if err != nil {
		return conflict(err, "create user")
	}
	return t.writeEmails(ctx, seq, u, false)
}

// emailRow is one row of user_emails.
type emailRow struct {
	pos                 int
	value, typ, display string
	primary             bool
}

func emailRows(u *directory.User) []emailRow {
	emails, _ := u.Attrs["emails"].([]any)
	var rows []emailRow
	for i, el := range emails {
		m, _ := el.(map[string]any)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		typ, _ := m["type"].(string)
		disp, _ := m["display"].(string)
		primary, _ := m["primary"].(bool)
		rows = append(rows, emailRow{i, strings.ToLower(v), strings.ToLower(typ), strings.ToLower(disp), primary})
	}
	return rows
}

// writeEmails indexes the user's emails in user_emails. On an update it
// rewrites the rows only when they differ: fewer pages to write.
func (t *tx) writeEmails(ctx context.Context, seq int64, u *directory.User, replace bool) error {
	want := emailRows(u)
	if replace {
		rows, err := t.tx.QueryContext(ctx, `SELECT pos, value_lower, COALESCE(type_lower, ''), COALESCE(display_lower, ''), is_primary FROM user_emails WHERE user_seq = ? ORDER BY pos`, seq)
		if err != nil {
			return fmt.Errorf("index emails: %w", err)
		}
		var have []emailRow
		for rows.Next() {
			var r emailRow
			var primary int
			if err := rows.Scan(&r.pos, &r.value, &r.typ, &r.display, &primary); err != nil {
				rows.Close()
				return fmt.Errorf("index emails: %w", err)
			}
			r.primary = primary != 0
			have = append(have, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("index emails: %w", err)
		}
		if slices.Equal(have, want) {
			return nil
		}
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM user_emails WHERE user_seq = ?`, seq); err != nil {
			return fmt.Errorf("index emails: %w", err)
		}
	}
	for _, r := range want {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO user_emails (user_seq, pos, value_lower, type_lower, display_lower, is_primary) VALUES (?, ?, ?, ?, ?, ?)`,
			seq, r.pos, r.value, nullStr(r.typ), nullStr(r.display), boolInt(r.primary)); err != nil {
			return fmt.Errorf("index emails: %w", err)
		}
	}
	return nil
}

// UpdateUser writes u over cur, the row as UserForUpdate returned it. The
// indexed columns u leaves as they were (organization, userName) are left
// out of the UPDATE: SQLite rewrites the entries of every index on a column
// an UPDATE sets, equal or not, and a PATCH of a display name or of active
// then read and rewrote two more index pages at random places in the file.
//
// The lower-cased userName is computed, not read: a key stored by a build
// with other Unicode tables may differ from what this one computes. The
// UPDATE that leaves it out therefore requires the stored key to be the
// computed one, and when it is not, the whole row is written (the key
// repaired, or the change refused if another user now holds it), as every
// update did before.
func (t *tx) UpdateUser(ctx context.Context, cur, u *directory.User) error {
	attrs, err := encodeAttrs(u.Attrs)
	if err != nil {
		return err
	}
	set := make([]string, 0, 12)
	args := make([]any, 0, 14)
	if cur == nil || cur.OrgID != u.OrgID {
		set, args = append(set, "org_id = ?"), append(args, u.OrgID)
	}
	if cur == nil || cur.UserName != u.UserName {
		set, args = append(set, "user_name = ?"), append(args, u.UserName)
	}
	lower := strings.ToLower(u.UserName)
	keepKey := cur != nil && strings.ToLower(cur.UserName) == lower
	if !keepKey {
		set, args = append(set, "user_name_lower = ?"), append(args, lower)
	}
	set = append(set, "display_name = ?", "display_name_lower = ?", "active = ?", "password_hash = ?", "attrs = ?",
		"modified = ?", "version = ?", "attrs_version = ?", "attrs_modified = ?")
	args = append(args, nullStr(u.DisplayName), nullStr(strings.ToLower(u.DisplayName)), boolInt(u.Active), nullStr(u.PasswordHash),
		attrs, fmtTime(u.Modified), u.Version, u.AttrsVersion, fmtTime(u.AttrsModified), u.ID)
	where := "id = ?"
	if keepKey {
		where, args = where+" AND user_name_lower = ?", append(args, lower)
	}
	var seq int64
	err = t.tx.QueryRowContext(ctx, `UPDATE users SET `+strings.Join(set, ", ")+` WHERE `+where+` RETURNING seq`, args...).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) && keepKey {
		return t.UpdateUser(ctx, nil, u) // the stored key is not the computed one: write it
	}
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("User", u.ID)
	}
	if err != nil {
		return conflict(err, "update user")
	}
	return t.writeEmails(ctx, seq, u, true)
}

func (t *tx) DeleteUser(ctx context.Context, id string) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT g.id FROM group_members gm JOIN groups g ON g.seq = gm.group_seq JOIN users u ON u.seq = gm.user_seq
		WHERE u.id = ? ORDER BY g.seq`, id)
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	groups, err := collectStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	res, err := t.tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("delete user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, notFound("User", id)
	}
	return groups, nil
}

func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *tx) MissingUsers(ctx context.Context, ids []string, scope *directory.SyncScope) ([]string, error) {
	return missingUsers(ctx, t.tx, ids, scope)
}

// MissingUsers returns those of ids that are not users inside scope (nil:
// any user).
func (s *Store) MissingUsers(ctx context.Context, ids []string, scope *directory.SyncScope) ([]string, error) {
	return missingUsers(ctx, s.r, ids, scope)
}

func missingUsers(ctx context.Context, q querier, ids []string, scope *directory.SyncScope) ([]string, error) {
	found := map[string]bool{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		b := &sqlfilter.Builder{D: dialect{}}
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			ph[i] = b.Arg(id)
		}
		cond := ""
		if scope != nil {
			cond = " AND " + b.ScopeUsers("t", scope)
		}
		rows, err := q.QueryContext(ctx, `SELECT t.id FROM users t WHERE t.id IN (`+strings.Join(ph, ", ")+`)`+cond, b.Args...)
		if err != nil {
			return nil, fmt.Errorf("check users: %w", err)
		}
		got, err := collectStrings(rows)
		if err != nil {
			return nil, err
		}
		for _, id := range got {
			found[id] = true
		}
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// UsersGroups returns the groups of each of ids that is a user in a group.
// The ids travel as one JSON array, so that every batch size is one
// statement (and one entry of the statement cache).
func (s *Store) UsersGroups(ctx context.Context, ids []string) (map[string][]directory.GroupRef, error) {
	out := map[string][]directory.GroupRef{}
	if len(ids) == 0 {
		return out, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("users' groups: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT u.id, g.id, g.display_name FROM users u
		JOIN group_members gm ON gm.user_seq = u.seq JOIN groups g ON g.seq = gm.group_seq
		WHERE u.id IN (SELECT value FROM json_each(?)) ORDER BY u.seq, g.seq`, string(list))
	if err != nil {
		return nil, fmt.Errorf("users' groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		var g directory.GroupRef
		if err := rows.Scan(&user, &g.ID, &g.DisplayName); err != nil {
			return nil, fmt.Errorf("users' groups: %w", err)
		}
		out[user] = append(out[user], g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users' groups: %w", err)
	}
	return out, nil
}

func (t *tx) UserGroups(ctx context.Context, id string, scope *directory.SyncScope) ([]directory.GroupRef, error) {
	b := &sqlfilter.Builder{D: dialect{}}
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeGroups("g", scope)
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT g.id, g.display_name FROM group_members gm JOIN groups g ON g.seq = gm.group_seq
		WHERE gm.user_seq = (SELECT seq FROM users WHERE id = `+b.Arg(id)+`)`+cond+` ORDER BY g.seq`, b.Args...)
	if err != nil {
		return nil, fmt.Errorf("user groups: %w", err)
	}
	defer rows.Close()
	var out []directory.GroupRef
	for rows.Next() {
		var g directory.GroupRef
		if err := rows.Scan(&g.ID, &g.DisplayName); err != nil {
			return nil, fmt.Errorf("user groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *tx) touch(ctx context.Context, table string, ids []string, at time.Time) error {
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		if _, err := t.tx.ExecContext(ctx, `UPDATE `+table+` SET version = version + 1 WHERE id IN (`+placeholders(len(chunk))+`)`, stringArgs(chunk)...); err != nil {
			return fmt.Errorf("touch %s: %w", table, err)
		}
	}
	return nil
}

func (t *tx) TouchUsers(ctx context.Context, ids []string, at time.Time) error {
	return t.touch(ctx, "users", ids, at)
}

func (t *tx) TouchGroups(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := append([]any{fmtTime(at)}, stringArgs(chunk)...)
		if _, err := t.tx.ExecContext(ctx, `UPDATE groups SET version = version + 1, modified = ? WHERE id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return fmt.Errorf("touch groups: %w", err)
		}
	}
	return nil
}

func (t *tx) GroupForUpdate(ctx context.Context, id, domain string) (*directory.Group, error) {
	g, _, err := getGroup(ctx, t.tx, id, nil, domain)
	return g, err
}

func (t *tx) GroupIDByExternalID(ctx context.Context, domain, externalID string) (string, error) {
	return t.lookupID(ctx, `SELECT g.id FROM group_external_ids x JOIN groups g ON g.seq = x.group_seq WHERE x.domain = ? AND x.external_id = ?`,
		"Group", domain, externalID)
}

func (t *tx) GroupIDByDisplayName(ctx context.Context, displayName string) (string, error) {
	return t.lookupID(ctx, `SELECT id FROM groups WHERE display_name_lower = ?`, "Group", strings.ToLower(displayName))
}

func (t *tx) SetGroupExternalID(ctx context.Context, id, domain, externalID string) error {
	return t.setExternalID(ctx, "groups", "group_external_ids", "group_seq", id, domain, externalID, "set group externalId")
}

func (t *tx) InsertGroup(ctx context.Context, g *directory.Group) error {
	attrs, err := encodeAttrs(g.Attrs)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO groups (id, org_id, display_name, display_name_lower, attrs, created, modified, version, attrs_version, attrs_modified)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.OrgID, g.DisplayName, strings.ToLower(g.DisplayName), attrs, fmtTime(g.Created), fmtTime(g.Modified), g.Version,
		g.AttrsVersion, fmtTime(g.AttrsModified))
	if err != nil {
		return conflict(err, "create group")
	}
	_, err = t.AddMembers(ctx, g.ID, memberIDs(g.Members))
	return err
}

func memberIDs(ms []directory.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func (t *tx) UpdateGroup(ctx context.Context, g *directory.Group) error {
	attrs, err := encodeAttrs(g.Attrs)
	if err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE groups SET org_id = ?, display_name = ?, display_name_lower = ?, attrs = ?, modified = ?, version = ?,
		attrs_version = ?, attrs_modified = ? WHERE id = ?`,
		g.OrgID, g.DisplayName, strings.ToLower(g.DisplayName), attrs, fmtTime(g.Modified), g.Version, g.AttrsVersion, fmtTime(g.AttrsModified), g.ID)
	if err != nil {
		return conflict(err, "update group")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Group", g.ID)
	}
	return nil
}

func (t *tx) DeleteGroup(ctx context.Context, id string) error {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM groups WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Group", id)
	}
	return nil
}

func (t *tx) UserInScope(ctx context.Context, id string, scope *directory.SyncScope) (bool, error) {
	b := &sqlfilter.Builder{D: dialect{}}
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM users t WHERE t.id = `+b.Arg(id)+` AND `+b.ScopeUsers("t", scope), b.Args...).Scan(&n)
	return n > 0, err
}

func (t *tx) OrgInScope(ctx context.Context, id string, scope *directory.SyncScope) (bool, error) {
	b := &sqlfilter.Builder{D: dialect{}}
	var n int
	p := b.Arg(id)
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM orgs WHERE id = `+p+` AND `+b.ScopeOrg(p, scope), b.Args...).Scan(&n)
	return n > 0, err
}

func (t *tx) Members(ctx context.Context, groupID string, scope *directory.SyncScope) ([]directory.Member, error) {
	b := &sqlfilter.Builder{D: dialect{}}
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeUsers("u", scope)
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT u.id, COALESCE(u.display_name, u.user_name) FROM group_members gm
		JOIN users u ON u.seq = gm.user_seq JOIN groups g ON g.seq = gm.group_seq WHERE g.id = `+b.Arg(groupID)+cond+` ORDER BY gm.user_seq`, b.Args...)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	defer rows.Close()
	var out []directory.Member
	for rows.Next() {
		var m directory.Member
		if err := rows.Scan(&m.ID, &m.Display); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) AddMembers(ctx context.Context, groupID string, ids []string) ([]string, error) {
	var added []string
	for _, id := range ids {
		res, err := t.tx.ExecContext(ctx, `INSERT INTO group_members (group_seq, user_seq)
			SELECT g.seq, u.seq FROM groups g, users u WHERE g.id = ? AND u.id = ? ON CONFLICT DO NOTHING`, groupID, id)
		if err != nil {
			return nil, fmt.Errorf("add members: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = append(added, id)
		}
	}
	return added, nil
}

func (t *tx) RemoveMembers(ctx context.Context, groupID string, ids []string) ([]string, error) {
	var removed []string
	for _, id := range ids {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_seq = (SELECT seq FROM groups WHERE id = ?)
			AND user_seq = (SELECT seq FROM users WHERE id = ?)`, groupID, id)
		if err != nil {
			return nil, fmt.Errorf("remove members: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed = append(removed, id)
		}
	}
	return removed, nil
}

func (t *tx) OrgForUpdate(ctx context.Context, id string) (*directory.Organization, error) {
	return getOrg(ctx, t.tx, id)
}

func (t *tx) OrgExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM orgs WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

func (t *tx) InsertOrg(ctx context.Context, o *directory.Organization) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO orgs (id, parent_id, name, external_id, created, modified, version) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		o.ID, nullStr(o.ParentID), o.Name, nullStr(o.ExternalID), fmtTime(o.Created), fmtTime(o.Modified), o.Version)
	if err != nil {
		return conflict(err, "create organization")
	}
	return nil
}

func (t *tx) UpdateOrg(ctx context.Context, o *directory.Organization) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE orgs SET parent_id = ?, name = ?, external_id = ?, modified = ?, version = ? WHERE id = ?`,
		nullStr(o.ParentID), o.Name, nullStr(o.ExternalID), fmtTime(o.Modified), o.Version, o.ID)
	if err != nil {
		return conflict(err, "update organization")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Organization", o.ID)
	}
	return nil
}

func (t *tx) DeleteOrg(ctx context.Context, id string) error {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM orgs WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete organization: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Organization", id)
	}
	return nil
}

func (t *tx) OrgInUse(ctx context.Context, id string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM orgs WHERE parent_id = ?) OR
		EXISTS (SELECT 1 FROM users WHERE org_id = ?) OR
		EXISTS (SELECT 1 FROM groups WHERE org_id = ?) OR
		EXISTS (SELECT 1 FROM apps WHERE target_org_id = ?)`, id, id, id, id).Scan(&n)
	return n != 0, err
}

// AppendAudit appends e to the hash chain in one statement: its seq
// follows the head's, its hash (gh_audit_hash, which is
// directory.AuditHash) covers it and the head's hash, and a trigger moves
// the head to it. The writer lock orders appends, also across processes; a
// write rolled back takes its records and the head move with it.
func (t *tx) AppendAudit(ctx context.Context, e *directory.AuditEntry) error {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	var before, after any
	if e.Before != nil {
		before = string(e.Before)
	}
	if e.After != nil {
		after = string(e.After)
	}
	err := t.tx.QueryRowContext(ctx, `INSERT INTO audit_log (seq, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id,
			action, resource_type, resource_id, before, after, prev_hash, hash)
		SELECT h.seq + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, h.hash,
			gh_audit_hash(h.seq + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, h.hash)
		FROM audit_head h WHERE h.id = 1
		RETURNING seq, prev_hash, hash`,
		fmtTime(e.Time), e.Actor.Kind, nullStr(e.Actor.AppID), nullStr(e.Actor.AppName), nullStr(e.Actor.TokenID), nullStr(e.Actor.RequestID),
		e.Action, e.ResourceType, e.ResourceID, before, after).Scan(&e.Seq, &e.PrevHash, &e.Hash)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}
