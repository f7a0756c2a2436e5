package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/oauth2-password/oauth2-password/pdk/kongaccess"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

// inProcIssuer is the engine over store.Cached over PostgreSQL, driven by
// fakeKong in this process: issuance with no socket and no second process,
// what the plugin itself costs on top of the database write.
type inProcIssuer struct {
	conf     *plugin.Config
	cached   *store.Cached
	body     []byte
	consumer plugin.Consumer
}

func openInProcIssuer(ctx context.Context, dbURL string, cl client) (*inProcIssuer, error) {
	raw, err := store.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	cached := store.NewCached(raw, store.CacheOptions{})
	cached.Start(ctx)
	o := plugin.DefaultOptions()
	o.Store, o.Log = cached, slog.New(slog.DiscardHandler)
	e, err := plugin.NewEngine(o)
	if err != nil {
		cached.Close()
		return nil, err
	}
	conf := plugin.NewConfig(e)
	cfg, _ := json.Marshal(map[string]any{"provision_key": provisionKey, "service_id": "svc"})
	if err := json.Unmarshal(cfg, conf); err != nil {
		cached.Close()
		return nil, err
	}
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {"user-1"}, "client_id": {cl.ID}, "client_secret": {cl.Secret}}
	return &inProcIssuer{conf: conf, cached: cached, body: []byte(form.Encode()),
		consumer: plugin.Consumer{ID: "4b1a6ad4-0000-4000-8000-000000000001", Username: "bob"}}, nil
}

func (p *inProcIssuer) close() { p.cached.Close() }

// issue runs one password grant and checks that it answered a token.
func (p *inProcIssuer) issue(context.Context) error {
	k := &fakeKong{method: "POST", path: "/oauth2/token", body: p.body, consumer: p.consumer,
		headers: map[string][]string{"content-type": {"application/x-www-form-urlencoded"}}}
	kongaccess.Access(p.conf, k)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if k.exitStatus != 200 || json.Unmarshal(k.exitBody, &tok) != nil || tok.AccessToken == "" {
		return fmt.Errorf("in-process password grant answered %d %s", k.exitStatus, k.exitBody)
	}
	return nil
}

// inProc is the comparison of in-process issuance with the raw loop.
type inProc struct {
	concurrency int
	ours, raw   *sample
}

func (e *env) compareInProcIssuance(ctx context.Context, o options) (inProc, error) {
	p, err := openInProcIssuer(ctx, e.pgURL, e.pg.client)
	if err != nil {
		return inProc{}, err
	}
	defer p.close()
	io := o
	io.rounds = max(2, o.rounds/2)
	so, sr, err := interleave(ctx, side{name: "engine in process", op: p.issue}, side{name: e.rawPG.name(), op: e.rawPG.write}, o.issueConc, io)
	if err != nil {
		return inProc{}, err
	}
	return inProc{concurrency: o.issueConc, ours: so, raw: sr}, nil
}
