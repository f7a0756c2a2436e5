package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// owner is a row of token_owners (migration 0005): the client and service
// of the tokens that name its id.
type owner struct{ client, service string }

// ownerCache maps owner ids to owners and back for the life of the
// process. An owner row never changes and its id is never given to
// another (an identity column), so an id → owner entry is never stale: a
// deleted owner's tokens are deleted with it, and no row names its id
// again. An owner → id entry can be: the client deleted (its owner with
// it) and perhaps made again, under a new owner id. A token write naming
// the old id then fails its foreign key, and the writer forgets the entry
// and looks the owner up again (insertToken). There is one owner per
// client and service, a few thousand at most.
type ownerCache struct {
	m   sync.Map // int32 → owner
	ids sync.Map // owner → int32
}

func (c *ownerCache) get(ctx context.Context, db *sql.DB, id int32) (owner, error) {
	if o, ok := c.m.Load(id); ok {
		return o.(owner), nil
	}
	var o owner
	err := db.QueryRowContext(ctx, `SELECT client_id, service_id FROM token_owners WHERE id = $1`, id).Scan(&o.client, &o.service)
	if err != nil {
		// A token row whose owner is gone was deleted with it meanwhile.
		return owner{}, notFound(err, fmt.Sprintf("read token owner %d", id))
	}
	if c != nil {
		c.m.Store(id, o)
	}
	return o, nil
}

// id returns the owner id of client and service ("" for none), making
// the owner on first use; cached reports that it came from the cache
// (and may be stale, see ownerCache). ErrClientGone if the client does
// not exist.
func (c *ownerCache) id(ctx context.Context, db *sql.DB, client, service string) (id int32, cached bool, err error) {
	o := owner{client, service}
	if v, ok := c.ids.Load(o); ok {
		return v.(int32), true, nil
	}
	if err := db.QueryRowContext(ctx, OwnerIDSQL, client, service).Scan(&id); err != nil {
		if isForeignKeyViolation(err) {
			return 0, false, ErrClientGone
		}
		return 0, false, fmt.Errorf("store: token owner: %w", err)
	}
	c.ids.Store(o, id)
	c.m.Store(id, o)
	return id, false, nil
}

// forget drops the cached id of client and service.
func (c *ownerCache) forget(client, service string) { c.ids.Delete(owner{client, service}) }
