package admin

import (
	"context"
	"crypto/rand"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim"
)

// The RAM stand-in's access keys (serve --profile ram): RAM refuses to
// delete a user that still has AccessKeys, and a pipeline that pushes to
// RAM must cope with that. The stand-in keeps key ids, no secrets.

// RAMAccessKey is an access key of a stand-in RAM user.
type RAMAccessKey struct {
	ID     string `json:"accessKeyId"`
	UserID string `json:"userId"`
}

var wholeDirectory = directory.Profile{TargetOrgID: directory.RootOrgID}

// RAMAccessKeys lists a stand-in user's access keys.
func (o *Ops) RAMAccessKeys(ctx context.Context, userID string) ([]RAMAccessKey, error) {
	u, err := o.Dir.User(ctx, wholeDirectory, userID, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	out := []RAMAccessKey{}
	for _, k := range scim.RAMAccessKeys(u) {
		out = append(out, RAMAccessKey{ID: k, UserID: userID})
	}
	return out, nil
}

// AddRAMAccessKey gives a stand-in user an access key.
func (o *Ops) AddRAMAccessKey(ctx context.Context, actor directory.Actor, userID string) (*RAMAccessKey, error) {
	id := "LTAI" + rand.Text()[:20]
	_, err := o.Dir.UpdateUser(ctx, actor, wholeDirectory, userID, nil, func(u *directory.User) error {
		keys := scim.RAMAccessKeys(u)
		if len(keys) >= 2 {
			return directory.Errorf(directory.ErrConflict, "accessKeys", "a RAM user has at most two access keys")
		}
		setRAMKeys(u, append(keys, id))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RAMAccessKey{ID: id, UserID: userID}, nil
}

// DeleteRAMAccessKey removes a stand-in user's access key.
func (o *Ops) DeleteRAMAccessKey(ctx context.Context, actor directory.Actor, userID, keyID string) error {
	_, err := o.Dir.UpdateUser(ctx, actor, wholeDirectory, userID, nil, func(u *directory.User) error {
		keys := scim.RAMAccessKeys(u)
		i := slices.Index(keys, keyID)
		if i < 0 {
			return directory.Errorf(directory.ErrNotFound, "accessKey", "the user has no access key %q", keyID)
		}
		setRAMKeys(u, slices.Delete(keys, i, i+1))
		return nil
	})
	return err
}

func setRAMKeys(u *directory.User, keys []string) {
	if u.Attrs == nil {
		u.Attrs = directory.Attrs{}
	}
	if len(keys) == 0 {
		delete(u.Attrs, scim.RAMAccessKeysAttr)
		return
	}
	vals := make([]any, len(keys))
	for i, k := range keys {
		vals[i] = k
	}
	u.Attrs[scim.RAMAccessKeysAttr] = vals
}

// RAMRoutes adds the stand-in's access key routes.
func (a *API) RAMRoutes() {
	a.handle("GET /ram/users/{id}/access-keys", func(r *http.Request, _ directory.Actor) (int, any, error) {
		keys, err := a.ops.RAMAccessKeys(r.Context(), r.PathValue("id"))
		return http.StatusOK, map[string]any{"items": keys}, err
	})
	a.handle("POST /ram/users/{id}/access-keys", func(r *http.Request, actor directory.Actor) (int, any, error) {
		k, err := a.ops.AddRAMAccessKey(r.Context(), actor, r.PathValue("id"))
		return http.StatusCreated, k, err
	})
	a.handle("DELETE /ram/users/{id}/access-keys/{key}", func(r *http.Request, actor directory.Actor) (int, any, error) {
		return http.StatusNoContent, nil, a.ops.DeleteRAMAccessKey(r.Context(), actor, r.PathValue("id"), r.PathValue("key"))
	})
}
