package main

import (
	"context"
	"log/slog"
	"net"
	"sync"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/pdk/spoe"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// spoeFront is serve's HAProxy SPOE agent listener (-spoe).
type spoeFront struct {
	agent   *spoe.Agent
	ln      net.Listener
	stopped sync.Once // the agent's Shutdown runs once
}

func newSPOEFront(addr string, conf *loadedConfig, services map[string]*plugin.Config, logger *slog.Logger) (*spoeFront, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errorf("serve: -spoe: %v", err)
	}
	return &spoeFront{ln: ln, agent: &spoe.Agent{Services: services,
		Consumers: httpfront.NewDirectory(conf.consumers), Trusted: conf.trusted, Log: logger}}, nil
}

func (s *spoeFront) serve(done chan<- error) {
	if err := s.agent.Serve(s.ln); err != nil {
		done <- err
	}
}

// stop stops accepting, lets the checks being answered finish (until ctx
// ends), then closes HAProxy's connections. Only the first call does it.
func (s *spoeFront) stop(ctx context.Context, logger *slog.Logger) {
	s.stopped.Do(func() {
		if err := s.agent.Shutdown(ctx); err != nil {
			logger.Error("SPOE shutdown incomplete", "err", err)
		}
	})
}
