package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/jsonvalue"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

var _ directory.Store = (*Store)(nil)

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type scanner interface{ Scan(dest ...any) error }

// listGate waits (as long as ctx allows) until fewer than half the pool's
// connections run reads that may read many rows — lists and searches other
// than of one user, a group's members — and returns the function that
// ends this one's turn. The other half stays for reads of one row, writes
// and the server's own work: SQLite gives lists connections of their own,
// and on one pool 32 clients listing 50,000 users each (an email they
// share, an indexed equality, so no limit of expensive queries applied)
// held every connection, and GETs of users waited seconds.
//
// A read with a deadline (a list's time budget) waits at most half of what
// is left of it, and then gives up with directory.ErrBusy (503, retry):
// it would run with too little of its budget to finish, take a turn from
// one that could, and be answered as if it ran out of time ("narrow the
// filter"). Under a flood of lists, turns go to lists that can finish.
func (s *Store) listGate(ctx context.Context) (func(), error) {
	select {
	case s.lists <- struct{}{}:
		return func() { <-s.lists }, nil
	default:
	}
	var expire <-chan time.Time
	if deadline, ok := ctx.Deadline(); ok {
		t := time.NewTimer(time.Until(deadline) / 2)
		defer t.Stop()
		expire = t.C
	}
	select {
	case s.lists <- struct{}{}:
		return func() { <-s.lists }, nil
	case <-expire:
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
	}
	return nil, &directory.Error{Kind: directory.ErrBusy, Op: "list",
		Msg: "the database connections for lists were all taken for half the query's time budget; retry later"}
}

// read runs fn on the pool or, when fn runs several statements, in a
// read-only REPEATABLE READ transaction, so that they all see one snapshot
// (a page agrees with its count, users with their groups).
func (s *Store) read(ctx context.Context, several bool, fn func(querier) error) error {
	if !several {
		return fn(s.pool)
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(tx) })
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
		return "NULL::text"
	}
	return `(SELECT x.external_id FROM ` + table + ` x WHERE x.` + key + ` = t.seq AND x.domain = ` + b.Arg(domain) + `)`
}

// userRow holds a scanned user and the columns that need converting, so
// that a row costs one allocation instead of one per column.
type userRow struct {
	u                    directory.User
	seq                  int64
	ext, display, pwHash pgtype.Text
	attrs                []byte
	dest                 [16]any
}

func scanUser(sc scanner, extra ...any) (*directory.User, int64, error) {
	r := &userRow{}
	u := &r.u
	dest := append(r.dest[:0], &r.seq, &u.ID, &u.OrgID, &u.UserName, &r.ext, &r.display, &u.Active, &r.pwHash, &r.attrs, &u.Created, &u.Modified, &u.Version,
		&u.AttrsVersion, &u.AttrsModified)
	dest = append(dest, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, 0, err
	}
	r.dest = [16]any{} // the pointers into r are not needed any more
	u.ExternalID, u.DisplayName, u.PasswordHash = r.ext.String, r.display.String, r.pwHash.String
	u.Created, u.Modified, u.AttrsModified = u.Created.UTC(), u.Modified.UTC(), u.AttrsModified.UTC()
	if err := decodeAttrs(r.attrs, &u.Attrs); err != nil {
		return nil, 0, err
	}
	r.attrs = nil
	return u, r.seq, nil
}

func decodeAttrs(b []byte, into *directory.Attrs) error {
	if len(b) == 0 || string(b) == "{}" {
		*into = directory.Attrs{}
		return nil
	}
	if err := jsonvalue.DecodeObject(b, into); err != nil {
		return fmt.Errorf("decode stored attributes: %w", err)
	}
	return nil
}

// encodeAttrs returns the JSON text of a; pgx sends a string as is to a
// jsonb parameter.
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
	return getUser(ctx, s.pool, id, opt, false)
}

// userGroupsCol aggregates a user's groups (those inside scope) into one
// JSON value, so that a user and its groups come back in one statement (one
// round trip, no transaction).
func userGroupsCol(b *sqlfilter.Builder, scope *directory.SyncScope) string {
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeGroups("g", scope)
	}
	return `(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name) ORDER BY g.seq), '[]'::json)
	FROM group_members gm JOIN groups g ON g.seq = gm.group_seq WHERE gm.user_seq = t.seq` + cond + `)`
}

// decodeGroups reads the userGroupsCol aggregate: [[id, name], …].
func decodeGroups(b []byte) ([]directory.GroupRef, error) {
	if len(b) == 0 || string(b) == "[]" {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(b, &pairs); err != nil {
		return nil, fmt.Errorf("decode groups: %w", err)
	}
	out := make([]directory.GroupRef, len(pairs))
	for i, p := range pairs {
		out[i] = directory.GroupRef{ID: p[0], DisplayName: p[1]}
	}
	return out, nil
}

func getUser(ctx context.Context, q querier, id string, opt directory.ReadOptions, forUpdate bool) (*directory.User, error) {
	if !storable(id) {
		return nil, notFound("User", id)
	}
	b := &sqlfilter.Builder{D: dialect{}}
	cols := userCols(b, opt.Domain)
	var groups []byte
	var extra []any
	if opt.Groups {
		cols += ", " + userGroupsCol(b, opt.Scope)
		extra = []any{&groups}
	}
	query := `SELECT ` + cols + ` FROM users t WHERE t.id = ` + b.Arg(id)
	if opt.Scope != nil {
		query += ` AND ` + b.ScopeUsers("t", opt.Scope)
	}
	if forUpdate {
		query += ` FOR UPDATE OF t`
	}
	u, _, err := scanUser(q.QueryRow(ctx, query, b.Args...), extra...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("User", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	if opt.Groups {
		if u.Groups, err = decodeGroups(groups); err != nil {
			return nil, fmt.Errorf("get user: %w", err)
		}
	}
	return u, nil
}

// listQuery holds the SELECT and COUNT statements of a query on a table
// (alias t) with the given layout.
type listQuery struct {
	sel, count         string
	selArgs, countArgs []any
	sorted             bool
	limit              int
}

// statements counts the statements a list runs: the count, the page, and
// the page's groups or members when loaded.
func (lq *listQuery) statements(loadRelated bool) int {
	n := 0
	if lq.count != "" {
		n++
	}
	if lq.limit > 0 {
		n++
		if loadRelated {
			n++
		}
	}
	return n
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
	out := &listQuery{limit: q.Limit}
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
	var sortKind sqlfilter.Kind
	if q.Sort != nil {
		var err error
		sortExpr, sortKind, err = b.SortExpr(l, q.Sort.Ref)
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
		conds = append(conds, b.After(l, sortExpr, sortKind, q.Descending, q.After))
	}
	sel := "SELECT " + selCols + " FROM " + table + " t" + whereClause(conds) +
		" ORDER BY " + b.OrderBy(l, sortExpr, sortKind, q.Descending) +
		" LIMIT " + b.Arg(q.Limit+1)
	if q.After == nil && q.Offset > 0 {
		sel += " OFFSET " + b.Arg(q.Offset)
	}
	out.sel, out.selArgs = sel, b.Args
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
	if isBadText(err) {
		return &directory.Error{Kind: directory.ErrInvalidFilter, Op: "filter", Field: "filter", Msg: "filter values must be valid UTF-8 without NUL characters", Err: err}
	}
	return err
}

// keyOf builds the keyset position of a row. pgx decodes the sort column
// into string, float64 (float8), bool or time.Time, the types directory.Key
// allows, and After sends them back as such.
func keyOf(seq int64, sortVal any, sorted bool) *directory.Key {
	k := &directory.Key{Seq: seq}
	if sorted {
		if sortVal == nil {
			k.Null = true
		} else {
			if t, ok := sortVal.(time.Time); ok {
				sortVal = t.UTC()
			}
			k.Value = sortVal
		}
	}
	return k
}

// listPage runs a list query: the count, then up to Limit rows scanned by
// scan, which is given the extra destination of the sort value.
func listPage[T any](ctx context.Context, db querier, lq *listQuery, q directory.Query, what string,
	scan func(sc scanner, extra ...any) (T, int64, error)) (*directory.Page[T], []int64, error) {
	page := &directory.Page[T]{}
	if q.Limit <= 0 {
		if lq.count != "" {
			if err := db.QueryRow(ctx, lq.count, lq.countArgs...).Scan(&page.Total); err != nil {
				return nil, nil, fmt.Errorf("count %s: %w", what, err)
			}
		}
		return page, nil, nil
	}
	rows, err := db.Query(ctx, lq.sel, lq.selArgs...)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	var seqs []int64
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
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", what, err)
	}
	if lq.count != "" {
		if n, ok := directory.TotalFromPage(q, len(page.Items), page.Next != nil); ok {
			page.Total = n
		} else if err := db.QueryRow(ctx, lq.count, lq.countArgs...).Scan(&page.Total); err != nil {
			return nil, nil, fmt.Errorf("count %s: %w", what, err)
		}
	}
	return page, seqs, nil
}

// Users lists users.
func (s *Store) Users(ctx context.Context, q directory.Query) (*directory.Page[*directory.User], error) {
	cols := func(b *sqlfilter.Builder) string { return userCols(b, q.Read.Domain) }
	scan := scanUser
	if q.Read.Groups {
		// Each row brings its groups: one statement for the page.
		cols = func(b *sqlfilter.Builder) string {
			return userCols(b, q.Read.Domain) + ", " + userGroupsCol(b, q.Read.Scope)
		}
		scan = func(sc scanner, extra ...any) (*directory.User, int64, error) {
			var groups []byte
			u, seq, err := scanUser(sc, append([]any{&groups}, extra...)...)
			if err != nil {
				return nil, 0, err
			}
			u.Groups, err = decodeGroups(groups)
			return u, seq, err
		}
	}
	lq, err := buildList(s.userLayout, "users", cols, sqlfilter.UserListScope(q), q)
	if err != nil {
		return nil, filterErr(err)
	}
	// A list pinned to one user is a point read.
	if !q.Pinned {
		done, err := s.listGate(ctx)
		if err != nil {
			return nil, err
		}
		defer done()
	}
	// The page usually answers the count too (directory.TotalFromPage), so
	// a list is one statement; when a count follows, it may see a slightly
	// later state than the page, as any total under concurrent writes may.
	page, _, err := listPage(ctx, s.pool, lq, q, "users", scan)
	if err != nil {
		return nil, filterErr(err)
	}
	return page, nil
}

// groupCols are the columns scanGroup reads, with the externalId of domain.
func groupCols(b *sqlfilter.Builder, domain string) string {
	return `t.seq, t.id, t.org_id, t.display_name, ` + externalIDCol(b, "group_external_ids", "group_seq", domain) +
		`, t.attrs, t.created, t.modified, t.version, t.attrs_version, t.attrs_modified`
}

func scanGroup(sc scanner, extra ...any) (*directory.Group, int64, error) {
	var (
		g     directory.Group
		seq   int64
		ext   pgtype.Text
		attrs []byte
	)
	dest := append([]any{&seq, &g.ID, &g.OrgID, &g.DisplayName, &ext, &attrs, &g.Created, &g.Modified, &g.Version,
		&g.AttrsVersion, &g.AttrsModified}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, 0, err
	}
	g.ExternalID = ext.String
	g.Created, g.Modified, g.AttrsModified = g.Created.UTC(), g.Modified.UTC(), g.AttrsModified.UTC()
	if err := decodeAttrs(attrs, &g.Attrs); err != nil {
		return nil, 0, err
	}
	return &g, seq, nil
}

// Group returns a group.
func (s *Store) Group(ctx context.Context, id string, opt directory.ReadOptions) (*directory.Group, error) {
	if opt.Members {
		done, err := s.listGate(ctx)
		if err != nil {
			return nil, err
		}
		defer done()
	}
	var g *directory.Group
	err := s.read(ctx, opt.Members, func(q querier) error {
		var err error
		g, err = getGroup(ctx, q, id, opt, false)
		return err
	})
	return g, err
}

func getGroup(ctx context.Context, q querier, id string, opt directory.ReadOptions, forUpdate bool) (*directory.Group, error) {
	if !storable(id) {
		return nil, notFound("Group", id)
	}
	b := &sqlfilter.Builder{D: dialect{}}
	query := `SELECT ` + groupCols(b, opt.Domain) + ` FROM groups t WHERE t.id = ` + b.Arg(id)
	if opt.Scope != nil {
		query += ` AND ` + b.ScopeGroups("t", opt.Scope)
	}
	if forUpdate {
		query += ` FOR UPDATE OF t`
	}
	g, seq, err := scanGroup(q.QueryRow(ctx, query, b.Args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Group", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get group: %w", err)
	}
	if opt.Members {
		m, err := groupMembers(ctx, q, []int64{seq}, opt.Scope)
		if err != nil {
			return nil, err
		}
		g.Members = m[seq]
	}
	return g, nil
}

// groupMembers lists the members (inside scope) of the groups seqs.
func groupMembers(ctx context.Context, q querier, seqs []int64, scope *directory.SyncScope) (map[int64][]directory.Member, error) {
	out := map[int64][]directory.Member{}
	if len(seqs) == 0 {
		return out, nil
	}
	b := &sqlfilter.Builder{D: dialect{}}
	cond := ""
	if scope != nil {
		cond = " AND " + b.ScopeUsers("u", scope)
	}
	rows, err := q.Query(ctx, `SELECT gm.group_seq, u.id, COALESCE(u.display_name, u.user_name) FROM group_members gm JOIN users u ON u.seq = gm.user_seq
		WHERE gm.group_seq = ANY(`+b.Arg(seqs)+`)`+cond+` ORDER BY gm.group_seq, gm.user_seq`, b.Args...)
	if err != nil {
		return nil, fmt.Errorf("group members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var m directory.Member
		if err := rows.Scan(&seq, &m.ID, &m.Display); err != nil {
			return nil, fmt.Errorf("group members: %w", err)
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
	done, err := s.listGate(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var page *directory.Page[*directory.Group]
	err = s.read(ctx, lq.statements(q.Read.Members) > 1, func(db querier) error {
		var seqs []int64
		var err error
		page, seqs, err = listPage(ctx, db, lq, q, "groups", scanGroup)
		if err != nil || !q.Read.Members || len(seqs) == 0 {
			return err
		}
		m, err := groupMembers(ctx, db, seqs, q.Read.Scope)
		if err != nil {
			return err
		}
		for i, g := range page.Items {
			g.Members = m[seqs[i]]
		}
		return nil
	})
	if err != nil {
		return nil, filterErr(err)
	}
	return page, nil
}

const orgCols = `id, parent_id, name, external_id, created, modified, version`

func scanOrg(sc scanner) (*directory.Organization, error) {
	var o directory.Organization
	var parent, ext pgtype.Text
	if err := sc.Scan(&o.ID, &parent, &o.Name, &ext, &o.Created, &o.Modified, &o.Version); err != nil {
		return nil, err
	}
	o.ParentID, o.ExternalID = parent.String, ext.String
	o.Created, o.Modified = o.Created.UTC(), o.Modified.UTC()
	return &o, nil
}

// Org returns an organization.
func (s *Store) Org(ctx context.Context, id string) (*directory.Organization, error) {
	return getOrg(ctx, s.pool, id, false)
}

func getOrg(ctx context.Context, q querier, id string, forUpdate bool) (*directory.Organization, error) {
	if !storable(id) {
		return nil, notFound("Organization", id)
	}
	query := `SELECT ` + orgCols + ` FROM orgs WHERE id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	o, err := scanOrg(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Organization", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	return o, nil
}

// Orgs lists every organization.
func (s *Store) Orgs(ctx context.Context) ([]*directory.Organization, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY created, id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []*directory.Organization
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("list organizations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

const auditCols = `seq, at, actor_kind, actor_app_id, actor_app_name, actor_token_id, request_id, action, resource_type, resource_id, before, after, prev_hash, hash`

func scanAudit(sc scanner) (*directory.AuditEntry, error) {
	var e directory.AuditEntry
	var appID, appName, tokenID, reqID, before, after pgtype.Text
	if err := sc.Scan(&e.Seq, &e.Time, &e.Actor.Kind, &appID, &appName, &tokenID, &reqID, &e.Action, &e.ResourceType, &e.ResourceID,
		&before, &after, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	e.Actor.AppID, e.Actor.AppName, e.Actor.TokenID, e.Actor.RequestID = appID.String, appName.String, tokenID.String, reqID.String
	if before.Valid {
		e.Before = json.RawMessage(before.String)
	}
	if after.Valid {
		e.After = json.RawMessage(after.String)
	}
	return &e, nil
}

func collectAudit(rows pgx.Rows) ([]*directory.AuditEntry, error) {
	defer rows.Close()
	var out []*directory.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Audit lists audit entries, newest first.
func (s *Store) Audit(ctx context.Context, q directory.AuditQuery) ([]*directory.AuditEntry, error) {
	for _, key := range []string{q.ResourceID, q.Actor, q.Action} {
		if !storable(key) {
			return nil, nil // no record holds it
		}
	}
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.ResourceID != "" {
		conds = append(conds, "resource_id = "+arg(q.ResourceID))
	}
	if q.Actor != "" {
		p := arg(q.Actor)
		conds = append(conds, "(actor_app_id = "+p+" OR actor_app_name = "+p+" OR (actor_app_id IS NULL AND actor_kind = "+p+"))")
	}
	if q.Action != "" {
		if strings.HasSuffix(q.Action, ".") {
			conds = append(conds, "starts_with(action, "+arg(q.Action)+")")
		} else {
			conds = append(conds, "action = "+arg(q.Action))
		}
	}
	if !q.Since.IsZero() {
		conds = append(conds, "at >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "at < "+arg(q.Until))
	}
	if q.BeforeSeq > 0 {
		conds = append(conds, "seq < "+arg(q.BeforeSeq))
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditCols+` FROM audit_log`+whereClause(conds)+` ORDER BY seq DESC LIMIT `+arg(q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out, err := collectAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// auditPage is how many records AuditChain reads per statement.
const auditPage = 1000

// AuditChain calls fn for every audit record in seq order, reading in
// pages so that no statement holds a snapshot for long.
func (s *Store) AuditChain(ctx context.Context, fn func(*directory.AuditEntry) error) error {
	after := int64(math.MinInt64)
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, after, auditPage)
		if err != nil {
			return fmt.Errorf("read audit chain: %w", err)
		}
		page, err := collectAudit(rows)
		if err != nil {
			return fmt.Errorf("read audit chain: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(page) < auditPage {
			return nil
		}
	}
}

// AuditHead returns the seq and hash of the last record appended.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	if err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

// PruneAudit deletes the start of the chain whose records are all older
// than before, after checking it, and appends the audit.prune record that
// says where the chain now starts, in one transaction
// (directory.PruneAuditLog). Prunes (of several replicas) take turns on an
// advisory lock, so that none finds records gone that another deleted
// meanwhile. It seals what is pending first and holds the chain's head
// until it commits: sealing rounds wait for it, writes do not.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, actor directory.Actor, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pruneLock); err != nil {
			return fmt.Errorf("prune audit: %w", err)
		}
		// The chain whole (what is pending sealed) and its head held: no
		// record is appended until the pruning commits.
		if _, err := t.seal(ctx); err != nil {
			return err
		}
		var err error
		n, err = directory.PruneAuditLog(ctx, auditPruner{t}, before, actor, now)
		return err
	})
	return n, err
}

// pruneLock is the advisory lock key retention pruning takes (an
// arbitrary constant: "gh-audit" in ASCII). Lock keys are per database:
// stores in other schemas of the same database share it, which only makes
// their prunes take turns.
const pruneLock int64 = 0x67682d6175646974

// auditPruner is what retention pruning reads and writes in its
// transaction.
type auditPruner struct{ *tx }

func (p auditPruner) AuditPruneBounds(ctx context.Context, cutoff time.Time) (first, last, young int64, err error) {
	var f, l, y pgtype.Int8
	err = p.tx.tx.QueryRow(ctx, `SELECT (SELECT min(seq) FROM audit_log), (SELECT max(seq) FROM audit_log),
			(SELECT seq FROM audit_log WHERE at >= $1 ORDER BY seq LIMIT 1)`, cutoff).Scan(&f, &l, &y)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("prune audit: %w", err)
	}
	return f.Int64, l.Int64, y.Int64, nil
}

func (p auditPruner) LastAuditPrune(ctx context.Context) (*directory.AuditEntry, error) {
	e, err := scanAudit(p.tx.tx.QueryRow(ctx, `SELECT `+auditCols+` FROM audit_log WHERE action = $1 ORDER BY seq DESC LIMIT 1`,
		directory.PruneAction))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prune audit: %w", err)
	}
	return e, nil
}

func (p auditPruner) AuditRange(ctx context.Context, from, to int64, fn func(*directory.AuditEntry) error) error {
	rows, err := p.tx.tx.Query(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, from, to)
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
	if err := p.tx.tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

// AppendAudit appends the audit.prune record to the chain itself, in the
// transaction of the deletion.
func (p auditPruner) AppendAudit(ctx context.Context, e *directory.AuditEntry) error {
	return p.tx.appendChained(ctx, e)
}

func (p auditPruner) DeleteAuditThrough(ctx context.Context, through int64) (int64, error) {
	// The flag lets the append-only trigger pass deletes, for this
	// transaction and only around this statement.
	if _, err := p.tx.tx.Exec(ctx, `SELECT set_config('gatehouse.audit_prune', 'on', true)`); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	tag, err := p.tx.tx.Exec(ctx, `DELETE FROM audit_log WHERE seq <= $1`, through)
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	if _, err := p.tx.tx.Exec(ctx, `SELECT set_config('gatehouse.audit_prune', 'off', true)`); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return tag.RowsAffected(), nil
}
