// Command forwarder is the whole of dovesnap's managed (v2) Docker plugin: Docker's swarm manager
// refuses legacy plugins, so this plugin only listens on the socket Docker gives the plugin and
// pipes every connection, byte for byte, to the host's dovesnap daemon socket, bind-mounted into
// the plugin. dovesnap on the host does all the work, exactly as for a legacy call.
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"sync"
)

func main() {
	listen := flag.String("listen", "/run/docker/plugins/dovesnap.sock", "socket Docker dials (the plugin's own socket)")
	target := flag.String("target", "/host-plugins/dovesnap.sock", "the host's dovesnap socket, as mounted in the plugin")
	flag.Parse()

	// A socket left by an earlier run of the plugin would make Listen fail.
	if err := os.Remove(*listen); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatalf("forwarder: removing stale %s: %v", *listen, err)
	}
	ln, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatalf("forwarder: listen %s: %v", *listen, err)
	}
	log.Printf("forwarder: %s -> %s", *listen, *target)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("forwarder: accept: %v", err)
		}
		go forward(c.(*net.UnixConn), *target)
	}
}

// forward pipes one of Docker's connections to dovesnap. Each direction is closed for writing
// when the other side stops sending, so that HTTP/1.1 requests and keep-alive both end cleanly.
func forward(in *net.UnixConn, target string) {
	defer in.Close()
	c, err := net.Dial("unix", target)
	if err != nil {
		// Docker sees a closed connection and retries; the log says why.
		log.Printf("forwarder: dial %s: %v", target, err)
		return
	}
	out := c.(*net.UnixConn)
	defer out.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src *net.UnixConn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.CloseWrite()
	}
	go pipe(out, in)
	go pipe(in, out)
	wg.Wait()
}
