package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/jsonvalue"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// userCols are the columns scanUser reads, with the externalId of domain.
func userCols(b *sqlfilter.Builder, domain string) string {
	return `t.seq, t.id, t.org_id, t.user_name, ` + externalIDCol(b, "user_external_ids", "user_seq", domain) +
		`, t.display_name, t.active, t.password_hash, t.attrs, t.created, t.modified, t.version, t.attrs_version, t.attrs_modified`
}

// externalIDCol selects the row's externalId in domain, from table keyed by
// column key (NULL without a domain).
func externalIDCol(b *sqlfilter.Builder, table, key, domain string) string {
	if domain == "" {
		return "NULL"
	}
	return `(SELECT x.external_id FROM ` + table + ` x WHERE x.` + key + ` = t.seq AND x.domain = ` + b.Arg(domain) + `)`
}

type scanner interface{ Scan(dest ...any) error }

// userRow holds a scanned user and the columns that need converting, so
// that a row costs one allocation instead of one per column.
type userRow struct {
	u                                       directory.User
	seq                                     int64
	ext, display, pwHash                    sql.NullString
	active                                  int
	attrs, created, modified, attrsModified string
	dest                                    [16]any
}

func scanUser(sc scanner, extra ...any) (*directory.User, int64, error) {
	r := &userRow{}
	u := &r.u
	dest := append(r.dest[:0], &r.seq, &u.ID, &u.OrgID, &u.UserName, &r.ext, &r.display, &r.active, &r.pwHash, &r.attrs, &r.created, &r.modified, &u.Version,
		&u.AttrsVersion, &r.attrsModified)
	dest = append(dest, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, 0, err
	}
	r.dest = [16]any{} // the pointers into r are not needed any more
	u.ExternalID, u.DisplayName, u.PasswordHash, u.Active = r.ext.String, r.display.String, r.pwHash.String, r.active != 0
	if err := decodeAttrs(r.attrs, &u.Attrs); err != nil {
		return nil, 0, err
	}
	var err error
	if u.Created, err = parseTime(r.created); err != nil {
		return nil, 0, err
	}
	if u.Modified, err = parseTime(r.modified); err != nil {
		return nil, 0, err
	}
	if u.AttrsModified, err = parseTime(r.attrsModified); err != nil {
		return nil, 0, err
	}
	r.attrs, r.created, r.modified, r.attrsModified = "", "", "", ""
	return u, r.seq, nil
}

func decodeAttrs(s string, into *directory.Attrs) error {
	if s == "" || s == "{}" {
		*into = directory.Attrs{}
		return nil
	}
	if err := jsonvalue.DecodeObject([]byte(s), into); err != nil {
		return fmt.Errorf("decode stored attributes: %w", err)
	}
	return nil
}

func encodeAttrs(a directory.Attrs) (string, error) {
	if len(a) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

func notFound(what, id string) error {
	return &directory.Error{Kind: directory.ErrNotFound, Op: "get " + what, Msg: fmt.Sprintf("%s %q not found", what, id)}
}

// User returns a user.
func (s *Store) User(ctx context.Context, id string, opt directory.ReadOptions) (*directory.User, error) {
	ctx, err := pointRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return getUser(ctx, s.r, id, opt)
}

// pointRead is the context a read of one row by its key runs with: ctx
// without its cancellation, once checked. Such a read takes microseconds
// (an index lookup); watching ctx while it runs would cost more — the
// driver and database/sql each start a goroutine per statement for a
// context that can end. A read that waits longer (for a connection of the
// pool, or for a lock held by another process, up to the busy timeout)
// finishes even if its caller has gone. Lists and searches, which may run
// long, keep their context and its deadline.
func pointRead(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// userGroupsCol aggregates a user's groups (those inside scope) into one
// JSON value, so that a user and its groups come back in one statement. A
// user in no group skips the ordered aggregate, whose sorter costs a
// fifth of a point read even over no rows.
func userGroupsCol(b *sqlfilter.Builder, scope *directory.SyncScope) string {
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeGroups("g", scope)
	}
	return `CASE WHEN EXISTS (SELECT 1 FROM group_members m WHERE m.user_seq = t.seq) THEN (SELECT json_group_array(json_array(g.id, g.display_name) ORDER BY g.seq)
	FROM group_members gm JOIN groups g ON g.seq = gm.group_seq WHERE gm.user_seq = t.seq` + cond + `) ELSE '[]' END`
}

// userColsSQL are the columns of a user (userCols) and, [with groups], its
// groups (userGroupsCol) for a reader without a scope, by [with a domain]:
// the domain, if any, is the statement's first argument. Some 700 bytes
// of SQL, built once instead of at each read.
var userColsSQL = func() (c [2][2]string) {
	for d, domain := range []string{"", "domain"} {
		for g := range 2 {
			b := &sqlfilter.Builder{D: dialect{}}
			c[d][g] = userCols(b, domain)
			if g == 1 {
				c[d][g] += ", " + userGroupsCol(b, nil)
			}
		}
	}
	return c
}()

// userColsKey indexes userColsSQL and userByIDSQL for a reader without a
// scope; args are the statement's first arguments (the domain, if any).
func userColsKey(opt directory.ReadOptions, args []any) (d, g int, _ []any) {
	if opt.Domain != "" {
		d, args = 1, append(args, opt.Domain)
	}
	if opt.Groups {
		g = 1
	}
	return d, g, args
}

// userColsFor returns userColsSQL's text for opt and adds its argument to
// b, when it applies: no scope, and no argument in b yet.
func userColsFor(b *sqlfilter.Builder, opt directory.ReadOptions) (string, bool) {
	if opt.Scope != nil || len(b.Args) > 0 {
		return "", false
	}
	var d, g int
	d, g, b.Args = userColsKey(opt, b.Args)
	return userColsSQL[d][g], true
}

// userByIDSQL is getUser's statement for a reader without a scope, by
// [with a domain][with groups], and its arguments are the domain (if any)
// and the id: the same four texts at every read (a GET by id is the most
// frequent request).
var userByIDSQL = func() (q [2][2]string) {
	for d := range 2 {
		for g := range 2 {
			q[d][g] = `SELECT ` + userColsSQL[d][g] + ` FROM users t WHERE t.id = ` + dialect{}.Param(d+1)
		}
	}
	return q
}()

func getUser(ctx context.Context, q querier, id string, opt directory.ReadOptions) (*directory.User, error) {
	var groups sql.NullString
	var extra []any
	if opt.Groups {
		extra = []any{&groups}
	}
	var query string
	var args []any
	if opt.Scope == nil {
		var d, g int
		d, g, args = userColsKey(opt, nil)
		query, args = userByIDSQL[d][g], append(args, id)
	} else {
		b := &sqlfilter.Builder{D: dialect{}}
		cols := userCols(b, opt.Domain)
		if opt.Groups {
			cols += ", " + userGroupsCol(b, opt.Scope)
		}
		query = `SELECT ` + cols + ` FROM users t WHERE t.id = ` + b.Arg(id) + " AND " + b.ScopeUsers("t", opt.Scope)
		args = b.Args
	}
	u, _, err := scanUser(q.QueryRowContext(ctx, query, args...), extra...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("User", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	if opt.Groups {
		if u.Groups, err = decodeGroups(groups.String); err != nil {
			return nil, fmt.Errorf("get user: %w", err)
		}
	}
	return u, nil
}

// decodeGroups reads the userGroupsCol aggregate: [[id, name], …].
func decodeGroups(s string) ([]directory.GroupRef, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, fmt.Errorf("decode groups: %w", err)
	}
	out := make([]directory.GroupRef, len(pairs))
	for i, p := range pairs {
		out[i] = directory.GroupRef{ID: p[0], DisplayName: p[1]}
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func int64Args(v []int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

func stringArgs(v []string) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// listQuery assembles the SELECT and COUNT statements of a query on table
// (alias t) with the given layout.
type listQuery struct {
	sel, count         string
	selArgs, countArgs []any
	sortKind           sqlfilter.Kind
	sorted             bool
}

// buildList builds a list query on table (alias t). cols renders the
// selected columns and scope the synchronization-scope condition, both with
// the statement's Builder.
func buildList(l *sqlfilter.Layout, table string, cols func(*sqlfilter.Builder) string,
	scope func(*sqlfilter.Builder) string, q directory.Query) (*listQuery, error) {
	where := func(b *sqlfilter.Builder) ([]string, error) {
		var conds []string
		if q.Scope != nil {
			conds = append(conds, scope(b))
		}
		if q.Filter != nil {
			w, err := b.Where(l, q.Filter)
			if err != nil {
				return nil, err
			}
			conds = append(conds, w)
		}
		return conds, nil
	}
	out := &listQuery{}
	if q.Count {
		b := &sqlfilter.Builder{D: dialect{}, Scope: q.Scope, Domain: q.Read.Domain}
		conds, err := where(b)
		if err != nil {
			return nil, err
		}
		out.count = "SELECT count(*) FROM " + table + " t" + whereClause(conds)
		out.countArgs = b.Args
	}
	b := &sqlfilter.Builder{D: dialect{}, Scope: q.Scope, Domain: q.Read.Domain}
	var sortExpr string
	if q.Sort != nil {
		var err error
		sortExpr, out.sortKind, err = b.SortExpr(l, q.Sort.Ref)
		if err != nil {
			return nil, err
		}
		out.sorted = sortExpr != ""
	}
	selCols := cols(b)
	if sortExpr != "" {
		selCols += ", " + sortExpr
	}
	conds, err := where(b)
	if err != nil {
		return nil, err
	}
	if q.After != nil {
		conds = append(conds, b.After(l, sortExpr, out.sortKind, q.Descending, q.After))
	}
	// One builder: the columns alone are some 700 bytes.
	var sel strings.Builder
	sel.Grow(len(selCols) + 256)
	for _, part := range []string{"SELECT ", selCols, " FROM ", table, " t", whereClause(conds),
		" ORDER BY ", b.OrderBy(l, sortExpr, out.sortKind, q.Descending), " LIMIT ", b.Arg(q.Limit + 1)} {
		sel.WriteString(part)
	}
	if q.After == nil && q.Offset > 0 {
		sel.WriteString(" OFFSET " + b.Arg(q.Offset))
	}
	out.sel, out.selArgs = sel.String(), b.Args
	return out, nil
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

func filterErr(err error) error {
	var fe *sqlfilter.Error
	if errors.As(err, &fe) {
		return &directory.Error{Kind: directory.ErrInvalidFilter, Op: "filter", Field: "filter", Msg: fe.Msg}
	}
	return err
}

// keyOf builds the keyset position of a row.
func keyOf(seq int64, sortVal any, sorted bool) *directory.Key {
	k := &directory.Key{Seq: seq}
	if sorted {
		if sortVal == nil {
			k.Null = true
		} else {
			k.Value = normalizeKeyValue(sortVal)
		}
	}
	return k
}

func normalizeKeyValue(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case []byte:
		return string(x)
	}
	return v
}

// listPage runs a list query: the page (one row more than asked, to know
// whether more follow), then, when asked and the page does not already
// tell, the count.
func listPage[T any](ctx context.Context, db querier, lq *listQuery, q directory.Query, what string,
	scan func(sc scanner, extra ...any) (T, int64, error)) (*directory.Page[T], []int64, error) {
	page := &directory.Page[T]{}
	var seqs []int64
	if q.Limit > 0 {
		rows, err := db.QueryContext(ctx, lq.sel, lq.selArgs...)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", what, err)
		}
		defer rows.Close()
		var last *directory.Key
		for rows.Next() {
			var sortVal any
			var extra []any
			if lq.sorted {
				extra = []any{&sortVal}
			}
			item, seq, err := scan(rows, extra...)
			if err != nil {
				return nil, nil, fmt.Errorf("list %s: %w", what, err)
			}
			if len(page.Items) == q.Limit {
				page.Next = last
				break
			}
			page.Items = append(page.Items, item)
			seqs = append(seqs, seq)
			last = keyOf(seq, sortVal, lq.sorted)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", what, err)
		}
		rows.Close()
	}
	if lq.count != "" {
		if n, ok := directory.TotalFromPage(q, len(page.Items), page.Next != nil); ok {
			page.Total = n
		} else if err := db.QueryRowContext(ctx, lq.count, lq.countArgs...).Scan(&page.Total); err != nil {
			return nil, nil, fmt.Errorf("count %s: %w", what, err)
		}
	}
	return page, seqs, nil
}

// Users lists users.
func (s *Store) Users(ctx context.Context, q directory.Query) (*directory.Page[*directory.User], error) {
	cols := func(b *sqlfilter.Builder) string {
		if c, ok := userColsFor(b, q.Read); ok {
			return c
		}
		c := userCols(b, q.Read.Domain)
		if q.Read.Groups {
			// Each row brings its groups: one statement for the page.
			c += ", " + userGroupsCol(b, q.Read.Scope)
		}
		return c
	}
	scan := scanUser
	if q.Read.Groups {
		scan = func(sc scanner, extra ...any) (*directory.User, int64, error) {
			var groups sql.NullString
			u, seq, err := scanUser(sc, append([]any{&groups}, extra...)...)
			if err != nil {
				return nil, 0, err
			}
			u.Groups, err = decodeGroups(groups.String)
			return u, seq, err
		}
	}
	lq, err := buildList(s.userLayout, "users", cols, sqlfilter.UserListScope(q), q)
	if err != nil {
		return nil, filterErr(err)
	}
	ctx, db, err := s.listDB(ctx, q)
	if err != nil {
		return nil, err
	}
	page, _, err := listPage(ctx, db, lq, q, "users", scan)
	return page, err
}

// listDB returns where a list runs, and with what context. A pinned one
// (directory.Query.Pinned) runs as a point read: on the point reads'
// connections, its context checked once and not watched (pointRead). It
// reads one user through a unique index, and SQLite's readers wait for no
// lock, so neither a client that goes away nor the time budget has
// anything to stop; watching them cost a fifth of such a list. Any other
// list runs on connections of its own, its context watched.
func (s *Store) listDB(ctx context.Context, q directory.Query) (context.Context, querier, error) {
	if !q.Pinned {
		return ctx, s.l, nil
	}
	ctx, err := pointRead(ctx)
	return ctx, s.r, err
}

// groupCols are the columns scanGroup reads, with the externalId of domain.
func groupCols(b *sqlfilter.Builder, domain string) string {
	return `t.seq, t.id, t.org_id, t.display_name, ` + externalIDCol(b, "group_external_ids", "group_seq", domain) +
		`, t.attrs, t.created, t.modified, t.version, t.attrs_version, t.attrs_modified`
}

func scanGroup(sc scanner, extra ...any) (*directory.Group, int64, error) {
	var (
		g                                       directory.Group
		seq                                     int64
		ext                                     sql.NullString
		attrs, created, modified, attrsModified string
	)
	dest := append([]any{&seq, &g.ID, &g.OrgID, &g.DisplayName, &ext, &attrs, &created, &modified, &g.Version,
		&g.AttrsVersion, &attrsModified}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, 0, err
	}
	g.ExternalID = ext.String
	if err := decodeAttrs(attrs, &g.Attrs); err != nil {
		return nil, 0, err
	}
	var err error
	if g.Created, err = parseTime(created); err != nil {
		return nil, 0, err
	}
	if g.Modified, err = parseTime(modified); err != nil {
		return nil, 0, err
	}
	if g.AttrsModified, err = parseTime(attrsModified); err != nil {
		return nil, 0, err
	}
	return &g, seq, nil
}

// Group returns a group. The group's row is a point read; its members,
// which may be 100,000 (a user's row read for each), are read as a list
// is: on the lists' connections, with ctx's cancellation and deadline, so
// that reads of large groups do not hold the connections GETs of users
// wait for, and stop when their client goes.
func (s *Store) Group(ctx context.Context, id string, opt directory.ReadOptions) (*directory.Group, error) {
	pctx, err := pointRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("get group: %w", err)
	}
	g, seq, err := getGroup(pctx, s.r, id, opt.Scope, opt.Domain)
	if err != nil || !opt.Members {
		return g, err
	}
	m, err := groupMembers(ctx, s.l, []int64{seq}, opt.Scope)
	if err != nil {
		return nil, err
	}
	g.Members = m[seq]
	return g, nil
}

// getGroup reads group id's row (inside scope, nil: any), with its
// externalId in domain, and returns it with its seq; not its members.
func getGroup(ctx context.Context, q querier, id string, scope *directory.SyncScope, domain string) (*directory.Group, int64, error) {
	b := &sqlfilter.Builder{D: dialect{}}
	where := "t.id = " + b.Arg(id)
	if scope != nil {
		where += " AND " + b.ScopeGroups("t", scope)
	}
	g, seq, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupCols(b, domain)+` FROM groups t WHERE `+where, b.Args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, notFound("Group", id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get group: %w", err)
	}
	return g, seq, nil
}

// groupMembers lists the members (inside scope) of the groups seqs.
func groupMembers(ctx context.Context, q querier, seqs []int64, scope *directory.SyncScope) (map[int64][]directory.Member, error) {
	out := map[int64][]directory.Member{}
	if len(seqs) == 0 {
		return out, nil
	}
	b := &sqlfilter.Builder{D: dialect{}}
	ph := make([]string, len(seqs))
	for i, seq := range seqs {
		ph[i] = b.Arg(seq)
	}
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeUsers("u", scope)
	}
	rows, err := q.QueryContext(ctx, `SELECT gm.group_seq, u.id, COALESCE(u.display_name, u.user_name) FROM group_members gm JOIN users u ON u.seq = gm.user_seq
		WHERE gm.group_seq IN (`+strings.Join(ph, ", ")+`)`+cond+` ORDER BY gm.group_seq, gm.user_seq`, b.Args...)
	if err != nil {
		return nil, fmt.Errorf("group members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var m directory.Member
		if err := rows.Scan(&seq, &m.ID, &m.Display); err != nil {
			return nil, err
		}
		out[seq] = append(out[seq], m)
	}
	return out, rows.Err()
}

// Groups lists groups.
func (s *Store) Groups(ctx context.Context, q directory.Query) (*directory.Page[*directory.Group], error) {
	lq, err := buildList(s.groupLayout, "groups", func(b *sqlfilter.Builder) string { return groupCols(b, q.Read.Domain) },
		func(b *sqlfilter.Builder) string { return b.ScopeGroups("t", q.Scope) }, q)
	if err != nil {
		return nil, filterErr(err)
	}
	ctx, db, err := s.listDB(ctx, q)
	if err != nil {
		return nil, err
	}
	page, seqs, err := listPage(ctx, db, lq, q, "groups", scanGroup)
	if err != nil {
		return nil, err
	}
	if q.Read.Members {
		m, err := groupMembers(ctx, db, seqs, q.Read.Scope)
		if err != nil {
			return nil, err
		}
		for i, g := range page.Items {
			g.Members = m[seqs[i]]
		}
	}
	return page, nil
}

func scanOrg(sc scanner) (*directory.Organization, error) {
	var o directory.Organization
	var parent, ext sql.NullString
	var created, modified string
	if err := sc.Scan(&o.ID, &parent, &o.Name, &ext, &created, &modified, &o.Version); err != nil {
		return nil, err
	}
	o.ParentID, o.ExternalID = parent.String, ext.String
	var err error
	if o.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	if o.Modified, err = parseTime(modified); err != nil {
		return nil, err
	}
	return &o, nil
}

const orgCols = `id, parent_id, name, external_id, created, modified, version`

// Org returns an organization.
func (s *Store) Org(ctx context.Context, id string) (*directory.Organization, error) {
	return getOrg(ctx, s.r, id)
}

func getOrg(ctx context.Context, q querier, id string) (*directory.Organization, error) {
	o, err := scanOrg(q.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Organization", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	return o, nil
}

// Orgs lists every organization.
func (s *Store) Orgs(ctx context.Context) ([]*directory.Organization, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []*directory.Organization
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

const auditCols = `seq, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id, action, resource_type, resource_id, before, after, prev_hash, hash`

func scanAudit(sc scanner) (*directory.AuditEntry, error) {
	var e directory.AuditEntry
	var at string
	var appID, appName, tokenID, reqID, before, after sql.NullString
	if err := sc.Scan(&e.Seq, &at, &e.Actor.Kind, &appID, &appName, &tokenID, &reqID, &e.Action, &e.ResourceType, &e.ResourceID,
		&before, &after, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Actor.AppID, e.Actor.AppName, e.Actor.TokenID, e.Actor.RequestID = appID.String, appName.String, tokenID.String, reqID.String
	if before.Valid {
		e.Before = json.RawMessage(before.String)
	}
	if after.Valid {
		e.After = json.RawMessage(after.String)
	}
	var err error
	if e.Time, err = parseTime(at); err != nil {
		return nil, err
	}
	return &e, nil
}

// Audit lists audit entries, newest first.
func (s *Store) Audit(ctx context.Context, q directory.AuditQuery) ([]*directory.AuditEntry, error) {
	var conds []string
	var args []any
	if q.ResourceID != "" {
		conds = append(conds, "resource_id = ?")
		args = append(args, q.ResourceID)
	}
	if q.Actor != "" {
		conds = append(conds, "(actor_app_id = ? OR actor_app_name = ? OR (actor_app_id IS NULL AND actor_kind = ?))")
		args = append(args, q.Actor, q.Actor, q.Actor)
	}
	if q.Action != "" {
		if strings.HasSuffix(q.Action, ".") {
			conds = append(conds, "substr(action, 1, ?) = ?")
			args = append(args, len(q.Action), q.Action)
		} else {
			conds = append(conds, "action = ?")
			args = append(args, q.Action)
		}
	}
	if !q.Since.IsZero() {
		conds = append(conds, "at >= ?")
		args = append(args, fmtTime(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "at < ?")
		args = append(args, fmtTime(q.Until))
	}
	if q.BeforeSeq > 0 {
		conds = append(conds, "seq < ?")
		args = append(args, q.BeforeSeq)
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	args = append(args, q.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log`+whereClause(conds)+` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return collect(rows, scanAudit)
}

// AuditChain calls fn for every audit record in seq order, reading in
// pages so that no read holds the database for long.
func (s *Store) AuditChain(ctx context.Context, fn func(*directory.AuditEntry) error) error {
	after := int64(-1 << 62)
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1000`, after)
		if err != nil {
			return fmt.Errorf("read audit chain: %w", err)
		}
		page, err := collect(rows, scanAudit)
		if err != nil {
			return fmt.Errorf("read audit chain: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(page) < 1000 {
			return nil
		}
	}
}

// AuditHead returns the seq and hash of the last record appended.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	if err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

// PruneAudit deletes the start of the chain whose records are all older
// than before, after checking it, and appends the audit.prune record that
// says where the chain now starts, in one write
// (directory.PruneAuditLog).
func (s *Store) PruneAudit(ctx context.Context, before time.Time, actor directory.Actor, now time.Time) (int64, error) {
	var n int64
	err := s.submit(ctx, func(t *tx) error {
		var err error
		n, err = directory.PruneAuditLog(ctx, auditPruner{t}, before, actor, now)
		return err
	})
	return n, err
}

// auditPruner is what retention pruning reads and writes in its write.
type auditPruner struct{ *tx }

func (p auditPruner) AuditPruneBounds(ctx context.Context, cutoff time.Time) (first, last, young int64, err error) {
	var f, l, y sql.NullInt64
	err = p.tx.tx.QueryRowContext(ctx, `SELECT (SELECT min(seq) FROM audit_log), (SELECT max(seq) FROM audit_log),
			(SELECT seq FROM audit_log WHERE at >= ? ORDER BY seq LIMIT 1)`, fmtTime(cutoff)).Scan(&f, &l, &y)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("prune audit: %w", err)
	}
	return f.Int64, l.Int64, y.Int64, nil
}

func (p auditPruner) LastAuditPrune(ctx context.Context) (*directory.AuditEntry, error) {
	e, err := scanAudit(p.tx.tx.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 1`,
		directory.PruneAction))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prune audit: %w", err)
	}
	return e, nil
}

func (p auditPruner) AuditRange(ctx context.Context, from, to int64, fn func(*directory.AuditEntry) error) error {
	rows, err := p.tx.tx.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return fmt.Errorf("prune audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("prune audit: %w", err)
	}
	return nil
}

func (p auditPruner) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	if err := p.tx.tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

func (p auditPruner) DeleteAuditThrough(ctx context.Context, through int64) (int64, error) {
	// The guard row lets the delete trigger through, for this write only.
	if _, err := p.tx.tx.ExecContext(ctx, `INSERT INTO audit_prune_guard (pruning) VALUES (1)`); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	res, err := p.tx.tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq <= ?`, through)
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	if _, err := p.tx.tx.ExecContext(ctx, `DELETE FROM audit_prune_guard`); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
