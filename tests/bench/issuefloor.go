package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// issueService is the service of the floor plugin in issue mode.
const (
	issueService = "issue"
	issueHost    = "issue.test"
)

// startIssueFloor runs the floor plugin in issue mode: every request is a
// token issuance writing rows for ours' client and service into ours'
// PostgreSQL database, with the store's SQL.
func startIssueFloor(ctx context.Context, bin, dbURL, clientID, serviceID string) (*pluginProc, error) {
	p, err := startPlugin(ctx, "floor-issue", bin, []string{"-issue-database-url", dbURL,
		"-issue-client-id", clientID, "-issue-service-id", serviceID})
	if err != nil {
		return nil, err
	}
	if _, err := p.host.AddService(konghost.ServiceSpec{Name: issueService, Host: issueHost}); err != nil {
		p.host.Close()
		return nil, err
	}
	return p, nil
}

// issueAtFloor sends ours' password-grant request to the issuance floor and
// checks that it was answered with a token.
func (e *env) issueAtFloor(ctx context.Context) (*konghost.Result, error) {
	req := e.pg.tokenRequest()
	req.Host = issueHost
	res, err := e.floorIssue.host.Do(ctx, issueService, req)
	if err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.Exit == nil || res.Status != 200 || json.Unmarshal(res.Exit.Body, &tok) != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("issuance floor answered %d (%v)\n%s", res.Status, res.Failure, e.floorIssue.log)
	}
	return res, nil
}

// issueFloor is the comparison of issuance through the socket with the
// issuance floor.
type issueFloor struct {
	concurrency int
	calls       string // the PDK calls both make per token
	ours, floor *sample
}

// compareIssueFloor checks that ours and the floor make the same PDK calls
// for one token, then measures both in alternating rounds.
func (e *env) compareIssueFloor(ctx context.Context, o options) (issueFloor, error) {
	ours, err := e.pg.host.Do(ctx, service, e.pg.tokenRequest())
	if err != nil {
		return issueFloor{}, err
	}
	if ours.Status != 200 {
		return issueFloor{}, fmt.Errorf("token endpoint answered %d (%v)\n%s", ours.Status, ours.Failure, e.pg.log)
	}
	floor, err := e.issueAtFloor(ctx)
	if err != nil {
		return issueFloor{}, err
	}
	oc, fc := callList(ours.Calls), callList(floor.Calls)
	if oc != fc {
		return issueFloor{}, fmt.Errorf("the issuance floor makes other PDK calls than the token endpoint: %s vs %s", fc, oc)
	}
	a := side{name: "oauth2-password", op: func(ctx context.Context) error {
		_, err := e.pg.issue(ctx)
		return err
	}, plugin: e.pg}
	b := side{name: "issuance floor", op: func(ctx context.Context) error {
		_, err := e.issueAtFloor(ctx)
		return err
	}, plugin: e.floorIssue}
	io := o
	io.rounds = max(2, o.rounds/2)
	so, sf, err := interleave(ctx, a, b, o.issueConc, io)
	if err != nil {
		return issueFloor{}, err
	}
	return issueFloor{concurrency: o.issueConc, calls: fmt.Sprintf("%d: %s", ours.RoundTrips, oc), ours: so, floor: sf}, nil
}

// callList is "method×n, …" in name order.
func callList(calls map[string]int) string {
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(calls)) {
		s := strings.TrimPrefix(m, "kong.")
		if calls[m] > 1 {
			s += fmt.Sprintf("×%d", calls[m])
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
