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

#ifndef FDN_VERSION
#define FDN_VERSION "0.0.0"
#endif

static const char usage_text[] =
    "usage: fdnode [options] SCRIPT.lua [SCRIPT.lua ...]\n"
    "       fdnode run SCRIPT.lua [ARG ...]   run a plain Lua script on the reactor, then exit\n"
    "\n"
    "Serves the Feathers-style services that each SCRIPT.lua configures.\n"
    "\n"
    "options:\n"
    "  --http PORT          REST gateway for every service the node knows (default: off)\n"
    "  --http-host ADDR     address the gateway listens on (default 127.0.0.1)\n"
    "  --max-body BYTES     largest request body the gateway accepts (default 1048576)\n"
    "  --http-timeout MS    a request must arrive whole within MS (default 30000)\n"
    "  --timeout MS         remote call timeout (default 10000)\n"
    "  --shutdown-timeout MS  how long calls in flight may run on at shutdown (default 5000)\n"
    "  --name NAME          node name shown in logs and listings (default host-pid)\n"
    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        print the version and exit\n";

enum {
    OPT_HTTP = 256,
    OPT_HTTP_HOST,
    OPT_MAX_BODY,
    OPT_HTTP_TIMEOUT,
    OPT_TIMEOUT,
    OPT_SHUTDOWN_TIMEOUT,
    OPT_NAME,
    OPT_LOG_LEVEL,
};

static const struct option long_options[] = {
    {"http", required_argument, NULL, OPT_HTTP},
    {"http-host", required_argument, NULL, OPT_HTTP_HOST},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
    {"name", required_argument, NULL, OPT_NAME},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
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
        .timeout_ms = 10000,
        .shutdown_ms = 5000,
        .log_level = FDN_LOG_INFO,
    };
    const char *mode = "serve";
    if (argc > 1 && strcmp(argv[1], "run") == 0) {
        mode = "run";
        argv[1] = argv[0];
        argv++;
        argc--;
    }

    int c;
    long long v;
    /* "+" stops at the first script, so a run script's own arguments stay its own */
    opterr = 0; /* we say what was wrong ourselves, in one line */
    while ((c = getopt_long(argc, argv, "+:hV", long_options, NULL)) != -1) {
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
        case OPT_HTTP_TIMEOUT:
        case OPT_TIMEOUT:
        case OPT_SHUTDOWN_TIMEOUT:
            if (parse_number(optarg, 1, 86400000, &v) < 0)
                return fail("'%s' is not a duration in milliseconds%s", optarg, "");
            if (c == OPT_HTTP_TIMEOUT)
                cfg.http_timeout_ms = (int)v;
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
    if (optind >= argc)
        return fail("no script given%s%s", "", "");
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
    return code;
}
