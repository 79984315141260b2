package events

import (
	"context"
	"encoding/json"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim"
)

// UserDocuments renders users as the documents of events about them, for
// the push: it maps each account with the same transformers as the rules
// use on its events, so that a push and the events after it agree.
type UserDocuments struct {
	b    *Builder
	orgs orgNames
}

// UserDocuments returns a renderer that reads the organization tree once.
func (b *Builder) UserDocuments(ctx context.Context) (*UserDocuments, error) {
	orgs, err := b.orgs(ctx)
	if err != nil {
		return nil, err
	}
	return &UserDocuments{b: b, orgs: orgs}, nil
}

// UserDocument renders u (read with its groups) as the document of a
// User.Updated event about it, without "changed" and "previous".
func (d *UserDocuments) UserDocument(_ context.Context, u *directory.User) (json.RawMessage, error) {
	detail := flatUser(u, d.orgs)
	detail["user"] = scim.UserResource(u, d.b.BaseURL, d.b.Schemas)
	return json.Marshal(Document{
		SpecVersion: "1.0", ID: "push-" + u.ID, Source: d.b.Source, Type: "User.Updated", Subject: "users/" + u.ID,
		Time: u.Modified.UTC(), DataContentType: "application/json", DetailType: "User.Updated", Detail: detail,
	})
}
