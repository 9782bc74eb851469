package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
)

// keyPoolSize is the number of keys ReuseSigningKeysForTests keeps; a
// store never holds that many current and verifying keys in a test.
const keyPoolSize = 8

var reuseKeys sync.Once

// ReuseSigningKeysForTests makes new signing keys come from a pool of a
// few RSA keys generated once per process, instead of a fresh key each
// time (about 70 ms of CPU per server start or rotation). A new key is
// still never one its store already has. For test harnesses only: it
// makes the keys of different stores the same.
func ReuseSigningKeysForTests() {
	reuseKeys.Do(func() {
		var mu sync.Mutex
		var pool []*rsa.PrivateKey
		next := 0
		generateRSAKey = func() (*rsa.PrivateKey, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(pool) < keyPoolSize {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					return nil, err
				}
				pool = append(pool, k)
				return k, nil
			}
			next++
			return pool[next%keyPoolSize], nil
		}
	})
}
