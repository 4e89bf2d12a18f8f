//go:build !unix

package pgembed

import (
	"context"
	"errors"
	"runtime"
)

var errUnsupported = errors.New("the embedded PostgreSQL cluster runs on Linux and other Unix systems only, not on " +
	runtime.GOOS + ": set DATABASE_URL to a PostgreSQL server")

// FindBinaries reports that the launcher does not run on this system.
func FindBinaries() (string, error) { return "", errUnsupported }

// Start refuses: the launcher needs Unix sockets, process credentials and file ownership.
func Start(context.Context, Options) (*Cluster, error) { return nil, errUnsupported }

// Stop does nothing: no cluster is ever started here.
func (e *Cluster) Stop() error { return nil }

// StartStandby refuses, like Start.
func (e *Cluster) StartStandby(context.Context, string) (*Cluster, error) { return nil, errUnsupported }
