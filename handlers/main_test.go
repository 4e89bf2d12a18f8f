package handlers_test

import (
	"os"
	"testing"

	"atrium/models/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
