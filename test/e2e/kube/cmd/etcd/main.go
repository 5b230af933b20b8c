// etcd's own main, as go.etcd.io/etcd/v3's main.go has it (that root module is not needed for it).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
