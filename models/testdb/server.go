package testdb

import "context"

// FindServer finds a PostgreSQL server the way Main does: TEST_DATABASE_URL, else the server on
// 127.0.0.1:5432, else a private cluster from the machine's binaries, which stop ends. It is for
// programs outside `go test` that want the same throwaway databases (the load benchmark).
func FindServer(ctx context.Context) (baseURL string, stop func(), err error) {
	return serverURL(ctx)
}
