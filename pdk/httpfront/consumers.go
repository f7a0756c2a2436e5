package httpfront

import "github.com/oauth2-password/oauth2-password/plugin"

// Directory is serve mode's consumers, from its config file: what a
// client's consumer reference means without Kong. A reference that matches
// no entry is its own id and username. No earlier step authenticates a
// request here, so HasCredential is always false.
type Directory struct {
	byRef map[string]plugin.Consumer
}

// NewDirectory indexes consumers by id and by username (an id wins over
// another consumer's username, as Kong looks up by id first).
func NewDirectory(consumers []plugin.Consumer) *Directory {
	d := &Directory{byRef: make(map[string]plugin.Consumer, 2*len(consumers))}
	for _, c := range consumers {
		if c.Username != "" {
			d.byRef[c.Username] = c
		}
	}
	for _, c := range consumers {
		d.byRef[c.ID] = c
	}
	return d
}

var _ plugin.Consumers = (*Directory)(nil)

// LoadConsumer always finds one: a reference nobody configured stands for
// itself.
func (d *Directory) LoadConsumer(ref string) (plugin.Consumer, bool, error) {
	if c, ok := d.byRef[ref]; ok {
		return c, true, nil
	}
	return plugin.Consumer{ID: ref, Username: ref}, true, nil
}

func (d *Directory) HasCredential() (bool, error) { return false, nil }
