package main

import (
	"fmt"
	"net/url"
)

// -target: the mix against a running payoutd over HTTP instead of a
// handler in this process. The hook: the mix drives a commandSender
// (mixrun.go); an HTTP sender is one more implementation, mapping each
// domain command to its adapters/httpapi route (httpapi's Route table
// names the command of every route), sending the command's JSON body with
// the bearer -token, the actor's role being the token's, the idempotency
// key in its header, and turning the API's error body back into a
// *domain.Rejection (code) or an error. With HTTP the store is remote:
// the setup goes through the same sender (-setup handler), the timers'
// commands (which need a clock ahead of the server's) are left out, and
// the projection and consumer followers connect to payoutd's NATS
// listener if it exposes one.
//
// Until that sender is written, -target is refused with this message
// rather than measuring something else.
func checkTarget(target, token string) error {
	if target == "" {
		return nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-target: %q is not an http(s)://host:port URL", target)
	}
	if token == "" {
		return fmt.Errorf("-target: a bearer -token is required")
	}
	return fmt.Errorf("-target %s: driving payoutd over HTTP is not wired yet (cmd/payoutbench/target.go: an HTTP commandSender over adapters/httpapi's routes); run without -target to measure the handler in process", target)
}
