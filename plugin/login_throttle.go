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
// The client address is the gateway's direct peer (Kong:
// kong.client.get_ip): behind a load balancer all clients share its
// address, and the first count then acts per username too.

// loginKeys are the two keys of one login attempt.
type loginKeys struct {
	pair, user throttleKey
}

func (r *request) loginKeys(username string) (loginKeys, error) {
	var k loginKeys
	if r.e.loginThrottle != nil {
		ip, err := r.clientIP()
		if err != nil {
			return k, err
		}
		k.pair = loginThrottleKey(username, ip)
	}
	k.user = userThrottleKey(username)
	return k, nil
}

// loginLocked answers 429 when either key is locked out, with the longer
// of the two waits.
func (r *request) loginLocked(k loginKeys, state any) bool {
	left1, locked1 := r.e.loginThrottle.blocked(k.pair)
	left2, locked2 := r.e.userThrottle.blocked(k.user)
	if !locked1 && !locked2 {
		return false
	}
	left := left1
	if locked2 && (!locked1 || left2 > left) {
		left = left2
	}
	r.exitSlowDown(left, state)
	return true
}

// loginFailed counts a refused login against both keys.
func (r *request) loginFailed(k loginKeys) {
	r.e.loginThrottle.fail(k.pair)
	r.e.userThrottle.fail(k.user)
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
