package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// TokenResponse is the token endpoint's JSON answer, success or error.
type TokenResponse struct {
	Status           int    `json:"-"`
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	State            string `json:"state"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// DecodeToken reads a token-endpoint response; an error answer is returned
// with its Status and Error set, not as a Go error.
func DecodeToken(resp *http.Response) (TokenResponse, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return TokenResponse{}, err
	}
	var tr TokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		return TokenResponse{}, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, b, err)
	}
	tr.Status = resp.StatusCode
	return tr, nil
}
