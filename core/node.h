/* node.h: the one struct of a running fdnode (reactor, Lua state, configuration)
 * and the single door from C into Lua: every event goes through fdn_node_dispatch. */
#ifndef FDN_NODE_H
#define FDN_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "alloc.h"
#include "guard.h"

struct event_base;
struct event;
struct fdn_http;
struct fdn_eio_server;
struct fdn_links;
struct fdn_discovery;
struct fdn_tls;
struct fdn_worker;
struct fdn_metrics;

/* What the command line sets: the flag of each field, and its default (every one of them, the
 * settings without a flag included), are in the option table of main.c. */
struct fdn_config {
    const char *name;      /* --name */
    const char *http_host; /* --http-host */
    int http_port;         /* --http, 0 = gateway off */
    size_t max_body;       /* --max-body BYTES */
    int http_timeout_ms;   /* --http-timeout MS: a request must arrive whole within it */
    int http_max_conns;    /* cap on open gateway connections (no flag) */
    int http_idle_ms;      /* --http-idle-timeout MS: a kept-alive connection idle so long closes */
    int http_max_per_addr; /* --http-max-per-addr N: gateway connections per client, 0 = no cap */
    int socket_ping_interval_ms; /* --socket-ping-interval MS: Engine.IO's pingInterval */
    int socket_ping_timeout_ms;  /* --socket-ping-timeout MS: a pong must come within it */
    size_t socket_max_payload;   /* --socket-max-payload BYTES: a message or a POST body */
    size_t socket_max_buffer;    /* --socket-max-buffer BYTES: output waiting, per session */
    int socket_max;              /* --socket-max N: open sessions; past it, handshakes get 503 */
    int timeout_ms;              /* --timeout MS, remote call timeout */
    int shutdown_ms;     /* --shutdown-timeout MS: calls in flight may run on so long at a stop */
    int log_level;       /* --log-level: FDN_LOG_* */
    const char *lib_dir; /* where fdnode's Lua library lives (lua/ and services/) */
    const char *config_dir; /* --config DIR: the app's configuration folder, or NULL */

    /* distribution */
    const char *bind;        /* --bind: RPC listener and discovery address */
    int port;                /* --port: RPC listener port, 0 = any free port */
    const char *key;         /* --key: cluster partition */
    const char *secret;      /* --secret or $FDN_SECRET: cluster secret, or NULL; never logged */
    const char *mcast_group; /* --multicast GROUP:PORT */
    int mcast_port;
    const char *seeds;   /* --seeds HOST:PORT,... (TCP addresses of nodes), or NULL */
    const char *nats;    /* --nats URL,... or $FDN_NATS: the NATS transport instead of links */
    const char *nats_ca; /* --nats-ca FILE or $FDN_NATS_CA: CA certificates for its TLS, or NULL */
    size_t max_frame;    /* --max-frame BYTES */
    size_t max_pending;  /* pending output per link before the peer is dropped (no flag) */
    int ping_timeout_ms; /* --ping-timeout MS: a silent link is lost after it */
    int grace_ms;        /* --grace MS: a path without provider keeps its proxy so long */
    int call_budget_ms;  /* --call-budget MS: how long Lua may run without yielding, 0 = off */
    int watch;           /* --watch: reload scripts when they change */
    size_t lua_memory;   /* --lua-memory MB, in bytes: cap of the Lua state, 0 = none */
    int spin_us;         /* --spin US: how long the reactor polls for more work before sleeping */

    /* the gateway's browser side */
    const char *cors;       /* --cors ORIGINS: allowed origins ("*" or a list), NULL = off */
    const char *public_dir; /* --public DIR: static files served by the gateway, or NULL */

    /* operators */
    const char *admin_host; /* --admin [HOST:]PORT: the admin server's address */
    int admin_port;         /* its port, 0 = off */
    const char *log_format; /* --log-format: "text" or "json" */
    int access_log;         /* --access-log: a line per REST or Socket.IO request */
};

struct fdn_node {
    struct event_base *base;
    lua_State *L;
    struct fdn_guard guard; /* the Lua state's time budget */
    struct fdn_alloc mem;   /* its memory: the byte count, the cap, the small-block pool */
    int dispatch_ref;       /* registry ref of the Lua dispatch function */
    int traceback_ref;
    struct fdn_config cfg;
    struct fdn_http *http;
    struct fdn_http *admin;          /* the operators' server (--admin), or NULL */
    struct fdn_metrics *metrics;     /* the counters /metrics shows (metrics.h) */
    struct fdn_eio_server *eio;      /* Socket.IO's sessions on the gateway, with it */
    struct fdn_links *links;         /* RPC links and listener, created on first use */
    struct fdn_discovery *discovery; /* beacons, created on first use */
    struct fdn_tls *tls;             /* keys and TLS setup of cfg.secret; NULL without one */
    struct fdn_worker *bcrypt;       /* password hashing's threads, made on first use */
    struct event *sig_term, *sig_int, *sig_hup;
    struct event *shutdown_timer;
    struct event *exit_poll; /* waits for the gateway's last answers to flush */
    uint8_t id[16];
    char id_hex[33];
    int exit_code;
    uint64_t turns;  /* calls into Lua so far: the reactor polls a little after one (reactor.h) */
    lua_State *pool; /* a thread never run, whose stack holds the parked task threads
                      * (lua_task.c, spawn): taking one and parking it are an lua_xmove */
    int pool_ref;    /* its registry ref, which keeps it (and them) alive */
    int pool_n;      /* how many are parked there */
    struct event *reclaim; /* gives memory back after a spike (node.c, reclaim_cb) */
    size_t settled;        /* the Lua heap after the last full collection node.c ran */
    size_t reclaim_used;   /* the Lua heap when the reclaim timer was armed */
    int64_t reclaim_since; /* when a reclaim was first asked for (CLOCK_MONOTONIC ms) */
    int64_t reclaimed_ms;  /* when memory was last given back */
};

struct fdn_node *fdn_node_new(const struct fdn_config *cfg);
void fdn_node_free(struct fdn_node *n);

/* Loads the Lua side and the scripts; 0 on success, -1 after logging one line. */
int fdn_node_boot(struct fdn_node *n, int argc, char **scripts, const char *mode);
/* Runs the reactor until the node stops; returns the process exit code. */
int fdn_node_run(struct fdn_node *n);
/* Begins an orderly stop: stop accepting, let calls finish (bounded), exit. */
void fdn_node_stop(struct fdn_node *n, int exit_code);
/* Leaves the reactor once the gateway has written every answer and ended every Socket.IO
 * session (bounded by the shutdown deadline when a stop is under way). */
void fdn_node_exit(struct fdn_node *n);

/* Dispatch: begin pushes the Lua dispatch function and the event kind; the caller
 * pushes its arguments and calls end, which runs the dispatcher under lua_pcall
 * with a traceback handler (errors are logged, never propagated into C). */
void fdn_node_dispatch_begin(struct fdn_node *n, const char *kind);
void fdn_node_dispatch_end(struct fdn_node *n, int nargs);

/* The hot paths' door (frames of the RPC protocol): like dispatch, under the same pcall,
 * traceback and guards, but begin pushes the C function fn instead of the Lua dispatcher
 * and its kind; end calls fn with the nargs arguments pushed in between. */
void fdn_node_call_begin(struct fdn_node *n, lua_CFunction fn);
void fdn_node_call_end(struct fdn_node *n, int nargs);
/* Inside such a call, between two pieces of work that are each given the whole time budget:
 * restarts the budget's clock; 1 when the work before ran over the budget, so that the call
 * should end now (the watchdog's hook stops what runs next in it). */
int fdn_node_call_next(struct fdn_node *n);

/* Lua bindings find the node through this upvalue helper. */
struct fdn_node *fdn_node_from_upvalue(lua_State *L);

#endif
