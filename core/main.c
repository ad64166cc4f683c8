/* main.c: the command line. argv -> configuration -> node -> run -> exit code. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "util.h"


static const char usage_text[] =
    "usage: fdnode [options] SCRIPT.lua [SCRIPT.lua ...]\n"
    "       fdnode run SCRIPT.lua [ARG ...]   run a plain Lua script on the reactor, then exit\n"
    "       fdnode ls [--json] [options]       list the cluster's nodes and their services\n"
    "       fdnode call PATH METHOD [ID] [JSON] [options]  call a service, print the result\n"
    "\n"
    "Serves the Feathers-style services that each SCRIPT.lua configures.\n"
    "\n"
    "options:\n"
    "  --http PORT          REST gateway for every service the node knows (default: off)\n"
    "  --http-host ADDR     address the gateway listens on (default 127.0.0.1)\n"
    "  --max-body BYTES     largest request body the gateway accepts (default 1048576)\n"
    "  --http-timeout MS    a request must arrive whole within MS (default 30000)\n"
    "  --http-idle-timeout MS  a kept-alive gateway connection idle for MS is closed\n"
    "                       (default 5000)\n"
    "  --http-max-per-addr N  gateway connections one client address may hold; past it, its\n"
    "                       idle ones are closed, else it gets 503 (default 256, 0: no cap)\n"
    "  --timeout MS         remote call timeout (default 10000)\n"
    "  --shutdown-timeout MS  how long calls in flight may run on at shutdown (default 5000)\n"
    "  --name NAME          node name shown in logs and listings (default host-pid)\n"
    "  --port PORT          TCP port of the RPC listener (default 0: any free port)\n"
    "  --bind ADDR          address of the RPC listener and of discovery (default 0.0.0.0)\n"
    "  --key NAME           cluster partition: only nodes with the same key see each other\n"
    "                       (default: default)\n"
    "  --secret S           cluster secret: beacons are authenticated and links run TLS; only\n"
    "                       nodes with the same secret see and reach each other (default: none;\n"
    "                       also $FDN_SECRET, which other users cannot see in ps: prefer it).\n"
    "                       Without one, a node whose RPC listener is not on loopback warns\n"
    "                       at start: anyone who reaches it can call every service\n"
    "  --multicast GROUP:PORT  discovery group (default 239.255.70.68:47468)\n"
    "  --seeds HOST:PORT,...   RPC addresses of nodes to join, where multicast is unavailable\n"
    "  --grace MS           how long a path without provider keeps its proxy (default 10000)\n"
    "  --ping-timeout MS    a silent link is declared lost after MS (default 3000)\n"
    "  --max-frame BYTES    largest RPC frame (default 1048576)\n"
    "  --json               fdnode ls: print JSON instead of a table\n"
    "  --watch              reload the scripts (and the Lua files they require) when they\n"
    "                       change; SIGHUP reloads them with or without it\n"
    "  --call-budget MS     Lua that runs MS without yielding is stopped (default 1000, 0: off)\n"
    "  --lua-memory MB      cap on the Lua state's memory (default 1024, 0: none)\n"
    "  --spin US            after handling work, poll US microseconds for more before\n"
    "                       sleeping (default 50, 0: sleep at once)\n"
    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        print the version and exit\n";

enum {
    OPT_HTTP = 256,
    OPT_HTTP_HOST,
    OPT_MAX_BODY,
    OPT_HTTP_TIMEOUT,
    OPT_HTTP_IDLE_TIMEOUT,
    OPT_HTTP_MAX_PER_ADDR,
    OPT_TIMEOUT,
    OPT_SHUTDOWN_TIMEOUT,
    OPT_NAME,
    OPT_LOG_LEVEL,
    OPT_PORT,
    OPT_BIND,
    OPT_KEY,
    OPT_SECRET,
    OPT_MULTICAST,
    OPT_SEEDS,
    OPT_GRACE,
    OPT_PING_TIMEOUT,
    OPT_MAX_FRAME,
    OPT_JSON,
    OPT_CALL_BUDGET,
    OPT_SPIN,
    OPT_WATCH,
    OPT_LUA_MEMORY,
};

static const struct option long_options[] = {
    {"http", required_argument, NULL, OPT_HTTP},
    {"http-host", required_argument, NULL, OPT_HTTP_HOST},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
    {"http-idle-timeout", required_argument, NULL, OPT_HTTP_IDLE_TIMEOUT},
    {"http-max-per-addr", required_argument, NULL, OPT_HTTP_MAX_PER_ADDR},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
    {"name", required_argument, NULL, OPT_NAME},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"port", required_argument, NULL, OPT_PORT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"key", required_argument, NULL, OPT_KEY},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"multicast", required_argument, NULL, OPT_MULTICAST},
    {"seeds", required_argument, NULL, OPT_SEEDS},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"ping-timeout", required_argument, NULL, OPT_PING_TIMEOUT},
    {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
    {"json", no_argument, NULL, OPT_JSON},
    {"call-budget", required_argument, NULL, OPT_CALL_BUDGET},
    {"spin", required_argument, NULL, OPT_SPIN},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"lua-memory", required_argument, NULL, OPT_LUA_MEMORY},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "fdnode: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see fdnode --help)\n");
    return 2;
}

/* Parses a whole decimal number in [lo, hi]; 0 ok, -1 otherwise. */
static int parse_number(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The cluster secret as given, without the whitespace around it (a file's line end, say): a
 * copy, or NULL when nothing is left, which is an error, never "no secret" (§5). */
static char *secret_copy(const char *s)
{
    size_t len = strlen(s);
    while (len && strchr(" \t\r\n\v\f", s[len - 1]))
        len--;
    while (len && strchr(" \t\r\n\v\f", *s)) {
        s++;
        len--;
    }
    if (!len)
        return NULL;
    char *copy = xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = 0;
    return copy;
}

static void secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Takes $FDN_SECRET out of the process: a copy (secret_copy), then its value is wiped where it
 * is (unsetenv only drops the pointer: the bytes stay in the environment block, which
 * /proc/PID/environ shows for the life of the process), then it is unset, so that nothing the
 * node starts inherits it. *set: whether it was there at all. */
static char *take_env_secret(int *set)
{
    static const char name[] = "FDN_SECRET=";
    char *copy = NULL;
    *set = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, name, sizeof name - 1) != 0)
            continue;
        char *value = *e + sizeof name - 1;
        if (!*set) /* the first, as getenv */
            copy = secret_copy(value);
        *set = 1;
        explicit_bzero(value, strlen(value));
    }
    unsetenv("FDN_SECRET");
    return copy;
}

/* Where the Lua library lives: $FDN_LIB_DIR, else the installed share dir next to
 * the binary, else the source tree the binary was built from. */
static const char *find_lib_dir(void)
{
    const char *env = getenv("FDN_LIB_DIR");
    if (env && *env)
        return env;
    static char path[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/../share/fdnode", exe);
            char probe[PATH_MAX + 96];
            snprintf(probe, sizeof probe, "%s/lua/fdn/boot.lua", path);
            if (access(probe, R_OK) == 0)
                return path;
        }
    }
    if (access(FDN_SOURCE_DIR "/lua/fdn/boot.lua", R_OK) == 0)
        return FDN_SOURCE_DIR;
    return FDN_INSTALL_LIB_DIR;
}

int main(int argc, char **argv)
{
    static char default_name[300];
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(default_name, sizeof default_name, "%s-%ld", host, (long)getpid());

    struct fdn_config cfg = {
        .name = default_name,
        .http_host = "127.0.0.1",
        .http_port = 0,
        .max_body = 1 << 20,
        .http_timeout_ms = 30000,
        .http_max_conns = 1024,
        .http_idle_ms = 5000,
        .http_max_per_addr = 256,
        .timeout_ms = 10000,
        .shutdown_ms = 5000,
        .log_level = FDN_LOG_INFO,
        .bind = "0.0.0.0",
        .key = "default",
        .mcast_group = "239.255.70.68",
        .mcast_port = 47468,
        .max_frame = 1 << 20,
        .max_pending = 8 << 20,
        .ping_timeout_ms = 3000,
        .grace_ms = 10000,
        .call_budget_ms = 1000,
        .spin_us = 50,
        .lua_memory = (size_t)1024 << 20,
    };
    static char group[64];
    const char *mode = "serve";
    static const char *const subcommands[] = {"run", "ls", "call"};
    for (size_t i = 0; argc > 1 && i < sizeof subcommands / sizeof subcommands[0]; i++) {
        if (strcmp(argv[1], subcommands[i]) == 0) {
            mode = subcommands[i];
            argv[1] = argv[0];
            argv++;
            argc--;
            break;
        }
    }
    int json_output = 0;
    char *secret = NULL; /* --secret wins over $FDN_SECRET */

    int c;
    long long v;
    opterr = 0; /* we say what was wrong ourselves, in one line */
    /* options may follow the scripts (fdnode app.lua --http 3030), except for
     * `fdnode run`, where everything after the script is the script's own */
    const char *optstring = strcmp(mode, "run") == 0 ? "+:hV" : ":hV";
    while ((c = getopt_long(argc, argv, optstring, long_options, NULL)) != -1) {
        switch (c) {
        case OPT_HTTP:
            if (parse_number(optarg, 1, 65535, &v) < 0)
                return fail("--http: '%s' is not a port number%s", optarg, "");
            cfg.http_port = (int)v;
            break;
        case OPT_HTTP_HOST:
            cfg.http_host = optarg;
            break;
        case OPT_MAX_BODY:
            if (parse_number(optarg, 1, 1LL << 32, &v) < 0)
                return fail("--max-body: '%s' is not a size in bytes%s", optarg, "");
            cfg.max_body = (size_t)v;
            break;
        case OPT_HTTP_MAX_PER_ADDR:
            if (parse_number(optarg, 0, 1 << 20, &v) < 0)
                return fail("--http-max-per-addr: '%s' is not a number of connections%s", optarg,
                            "");
            cfg.http_max_per_addr = (int)v;
            break;
        case OPT_PORT:
            if (parse_number(optarg, 0, 65535, &v) < 0)
                return fail("--port: '%s' is not a port number%s", optarg, "");
            cfg.port = (int)v;
            break;
        case OPT_BIND:
            cfg.bind = optarg;
            break;
        case OPT_KEY:
            if (!*optarg)
                return fail("--key must not be empty%s%s", "", "");
            cfg.key = optarg;
            break;
        case OPT_SECRET:
            secret_free(secret);
            secret = secret_copy(optarg);
            /* out of sight of ps (as far as it can be: it was visible until now) */
            memset(optarg, '*', strlen(optarg));
            if (!secret)
                return fail("--secret must not be empty or blank%s%s", "", "");
            break;
        case OPT_MULTICAST: {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof group ||
                parse_number(colon + 1, 1, 65535, &v) < 0)
                return fail("--multicast: '%s' is not GROUP:PORT%s", optarg, "");
            memcpy(group, optarg, (size_t)(colon - optarg));
            group[colon - optarg] = 0;
            cfg.mcast_group = group;
            cfg.mcast_port = (int)v;
            break;
        }
        case OPT_SEEDS:
            cfg.seeds = optarg;
            break;
        case OPT_MAX_FRAME:
            if (parse_number(optarg, 1024, 1LL << 30, &v) < 0)
                return fail("--max-frame: '%s' is not a size in bytes (1024 or more)%s", optarg,
                            "");
            cfg.max_frame = (size_t)v;
            break;
        case OPT_WATCH:
            cfg.watch = 1;
            break;
        case OPT_CALL_BUDGET:
            if (parse_number(optarg, 0, 86400000, &v) < 0)
                return fail("--call-budget: '%s' is not a duration in milliseconds%s", optarg, "");
            cfg.call_budget_ms = (int)v;
            break;
        case OPT_SPIN:
            if (parse_number(optarg, 0, 10000, &v) < 0)
                return fail("--spin: '%s' is not a duration in microseconds (0 to 10000)%s", optarg,
                            "");
            cfg.spin_us = (int)v;
            break;
        case OPT_LUA_MEMORY:
            if (parse_number(optarg, 0, 1 << 20, &v) < 0)
                return fail("--lua-memory: '%s' is not a size in MB%s", optarg, "");
            cfg.lua_memory = (size_t)v << 20;
            break;
        case OPT_JSON:
            json_output = 1;
            break;
        case OPT_GRACE:
        case OPT_PING_TIMEOUT:
            if (parse_number(optarg, 0, 86400000, &v) < 0)
                return fail("'%s' is not a duration in milliseconds%s", optarg, "");
            if (c == OPT_GRACE)
                cfg.grace_ms = (int)v;
            else
                cfg.ping_timeout_ms = (int)v < 100 ? 100 : (int)v;
            break;
        case OPT_HTTP_TIMEOUT:
        case OPT_HTTP_IDLE_TIMEOUT:
        case OPT_TIMEOUT:
        case OPT_SHUTDOWN_TIMEOUT:
            if (parse_number(optarg, 1, 86400000, &v) < 0)
                return fail("'%s' is not a duration in milliseconds%s", optarg, "");
            if (c == OPT_HTTP_TIMEOUT)
                cfg.http_timeout_ms = (int)v;
            else if (c == OPT_HTTP_IDLE_TIMEOUT)
                cfg.http_idle_ms = (int)v;
            else if (c == OPT_TIMEOUT)
                cfg.timeout_ms = (int)v;
            else
                cfg.shutdown_ms = (int)v;
            break;
        case OPT_NAME:
            if (!*optarg)
                return fail("--name must not be empty%s%s", "", "");
            cfg.name = optarg;
            break;
        case OPT_LOG_LEVEL:
            cfg.log_level = fdn_log_parse_level(optarg);
            if (cfg.log_level < 0)
                return fail("--log-level: '%s' is not one of debug, info, warn, error%s", optarg,
                            "");
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("fdnode %s\n", FDN_VERSION);
            return 0;
        case ':':
            return fail("option '%s' needs a value%s", argv[optind - 1], "");
        default:
            return fail("unknown option '%s'%s", argv[optind - 1], "");
        }
    }
    if (json_output && strcmp(mode, "ls") != 0)
        return fail("--json is an option of fdnode ls%s%s", "", "");
    if (optind >= argc && (strcmp(mode, "serve") == 0 || strcmp(mode, "run") == 0))
        return fail("no script given%s%s", "", "");
    if (strcmp(mode, "call") == 0 && argc - optind < 2)
        return fail("usage: fdnode call PATH METHOD [ID] [JSON]%s%s", "", "");
    if (strcmp(mode, "ls") == 0 && json_output)
        mode = "ls-json";
    int env_set;
    char *env_secret = take_env_secret(&env_set);
    if (secret) {
        secret_free(env_secret);
    } else if (env_set && !env_secret) { /* what a missing Kubernetes secret gives */
        return fail("FDN_SECRET is set but empty or blank%s%s: give it the cluster secret, or "
                    "unset it to run without one",
                    "", "");
    } else {
        secret = env_secret;
    }
    cfg.secret = secret;
    fdn_log_set_level(cfg.log_level);
    cfg.lib_dir = find_lib_dir();
    signal(SIGPIPE, SIG_IGN);

    struct fdn_node *n = fdn_node_new(&cfg);
    if (!n)
        return 1;
    int code = 1;
    if (fdn_node_boot(n, argc - optind, argv + optind, mode) == 0)
        code = fdn_node_run(n);
    fdn_node_free(n);
    secret_free(secret);
    return code;
}
