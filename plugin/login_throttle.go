package plugin

import "time"

// Brute-force protection of the standard password grant (RFC 6749
// §4.3.2), on the limiter of throttle.go. Two counts of failed logins
// (the backend said 401/403):
//
//   - per (username, client address): LoginThrottleFailures within
//     ThrottleWindow. It stops one address guessing one account quickly.
//   - per username from any address: LoginUserThrottleFailures within
//     LoginUserThrottleWindow, higher and slower. It protects an account
//     attacked from many addresses, and one address alone cannot reach it
//     before its own count stops it, so a single attacker cannot lock the
//     user out for everyone.
//
// A locked-out login is answered 429 slow_down without asking the backend.
// The client address is the gateway's notion of it (Request.ForwardedIP:
// behind a trusted proxy, the address the proxy forwarded), an IPv6
// address by its /64 as in the client throttle.
//
// A login reserves a failure slot in both counts before the backend is
// called, and settles them when it answers (a failure counted, a success
// or a failing backend given back): however many logins arrive at once,
// no more reach the backend for one key than its count has left.

// loginKeys are the two keys of one login attempt.
type loginKeys struct {
	pair, user throttleKey
}

func (r *request) loginKeys(username string) (loginKeys, error) {
	var k loginKeys
	if r.e.loginThrottle != nil {
		ip, err := r.clientAddr()
		if err != nil {
			return k, err
		}
		k.pair = loginThrottleKey(username, ip)
	}
	k.user = userThrottleKey(username)
	return k, nil
}

// reserveLogin takes a failure slot in both counts, or answers 429 with
// the longer of the two waits when either has none left.
func (r *request) reserveLogin(k loginKeys, state any) bool {
	left1, ok1 := r.e.loginThrottle.reserve(k.pair)
	if !ok1 {
		// A locked-out user answers with the user's longer wait.
		if left2, locked := r.e.userThrottle.blocked(k.user); locked && left2 > left1 {
			left1 = left2
		}
		r.exitSlowDown(left1, state)
		return false
	}
	if left2, ok2 := r.e.userThrottle.reserve(k.user); !ok2 {
		r.e.loginThrottle.settle(k.pair, false)
		r.exitSlowDown(left2, state)
		return false
	}
	return true
}

// settleLogin settles both reserved slots: failed counts a refused login.
func (r *request) settleLogin(k loginKeys, failed bool) {
	r.e.loginThrottle.settle(k.pair, failed)
	r.e.userThrottle.settle(k.user, failed)
}

// failureFloor waits until LoginFailureFloor has passed since started, so
// that every refused login takes at least that long to answer whatever
// the backend's own timing ("no such user" is usually faster than a
// password hash). It gives up when the caller's context ends.
func (r *request) failureFloor(started time.Time) {
	wait := r.e.opt.LoginFailureFloor - time.Since(started)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
	}
}
