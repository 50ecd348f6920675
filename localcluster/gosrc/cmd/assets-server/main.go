// Command assets-server stands in for the lab's nginx in the assets image: it
// serves $ROOT (default /usr/share/nginx/html: health check /health.html,
// product images under /assets/) on $PORT (default 8080) and shuts down cleanly
// on SIGTERM. The ui stand-in serves its health endpoint the same way.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"
)

var root = envOr("ROOT", "/usr/share/nginx/html")

func envOr(key, fallback string) string {
	if value := os.Getenv(key); value != "" {
		return value
	}
	return fallback
}

// noListing serves files and index.html pages but, like nginx without
// autoindex, answers 403 for a directory that has no index.html.
func noListing(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clean := path.Clean("/" + r.URL.Path)
		info, err := os.Stat(root + clean)
		if err == nil && info.IsDir() {
			if _, err := os.Stat(root + strings.TrimSuffix(clean, "/") + "/index.html"); err != nil {
				http.Error(w, "403 Forbidden", http.StatusForbidden)
				return
			}
		}
		start := time.Now()
		files.ServeHTTP(w, r)
		log.Printf("%s %s %s %s", r.RemoteAddr, r.Method, r.URL.Path, time.Since(start))
	})
}

func main() {
	port := envOr("PORT", "8080")
	server := &http.Server{
		Addr:              ":" + port,
		Handler:           noListing(http.FileServer(http.Dir(root))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	log.Printf("serving %s on :%s", root, port)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
