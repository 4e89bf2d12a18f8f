package webtest

import "github.com/uptrace/bun"

type bunTx = bun.Tx
