/* main.c: the command line. argv -> configuration -> node -> run -> exit code. Every option is
 * one row of the table below (flag, argument, range, default, help): getopt's options, --help
 * and the checks all come from it, and so does every default of struct fdn_config. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cors.h"
#include "discovery.h"
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
    "options:\n";

/* What the command line sets: the node's configuration, and main's own. */
struct cli {
    struct fdn_config cfg;
    int json;             /* --json: fdnode ls prints JSON */
    char *secret;         /* --secret, a copy (secret_copy); it wins over $FDN_SECRET */
    char *env_nats;       /* $FDN_NATS, a copy, when --nats was not given */
    char group[64];       /* --multicast's group: cfg.mcast_group points here */
    char admin_host[256]; /* --admin's host: cfg.admin_host points here */
};

enum kind {
    INT,        /* a whole number in [min, max], raised to floor, into an int field */
    SIZE,       /* the same, shifted left by shift, into a size_t field */
    STR,        /* a string; min 1: it must not be empty */
    FLAG,       /* no argument: the int field becomes 1 */
    LEVEL,      /* a log level's name, into an int field (FDN_LOG_*) */
    GROUP_PORT, /* GROUP:PORT: cfg.mcast_group (a copy in cli.group) and cfg.mcast_port */
    HOST_PORT,  /* [HOST:]PORT: cfg.admin_host (a copy in cli.admin_host) and cfg.admin_port */
    SECRET,     /* the cluster secret, into cli.secret; hidden from ps */
    HELP,
    VERSION,
};

struct opt {
    const char *name; /* --NAME; NULL: a setting with no flag, always at its default */
    int letter;       /* -L as well, or 0 */
    enum kind kind;
    size_t off;                /* the field it sets, in struct cli (FIELD) */
    long long min, max, floor; /* INT, SIZE: the range; floor: smaller values are raised to it */
    int shift;                 /* SIZE: the value is stored shifted left by this (MB: 20) */
    const char *def;  /* the default, as it would be given on the command line; NULL: none */
    const char *arg;  /* the argument's name in --help; for a number, its unit in errors */
    const char *help; /* one sentence, wrapped by --help */
    const char *note; /* said with the default: "(default: DEF, NOTE)", or "(default: NOTE)" */
};

#define FIELD(f) .off = offsetof(struct cli, f)
#define DAY_MS 86400000
#define QUOTE_(x) #x
#define QUOTE(x) QUOTE_(x)

/* clang-format off */
static const struct opt opts[] = {
    {.name = "http", .kind = INT, FIELD(cfg.http_port), .min = 1, .max = 65535, .arg = "PORT",
     .help = "REST gateway for every service the node knows", .note = "off"},
    {.name = "http-host", .kind = STR, FIELD(cfg.http_host), .def = "127.0.0.1", .arg = "ADDR",
     .help = "address the gateway listens on"},
    {.name = "max-body", .kind = SIZE, FIELD(cfg.max_body), .min = 1, .max = 1LL << 32,
     .def = "1048576", .arg = "BYTES", .help = "largest request body the gateway accepts"},
    {.name = "http-timeout", .kind = INT, FIELD(cfg.http_timeout_ms), .min = 1, .max = DAY_MS,
     .def = "30000", .arg = "MS", .help = "a request must arrive whole within MS"},
    {.name = "http-idle-timeout", .kind = INT, FIELD(cfg.http_idle_ms), .min = 1, .max = DAY_MS,
     .def = "5000", .arg = "MS", .help = "a kept-alive gateway connection idle for MS is closed"},
    {.name = "http-max-per-addr", .kind = INT, FIELD(cfg.http_max_per_addr), .max = 1 << 20,
     .def = "256", .arg = "N", .note = "0: no cap",
     .help = "gateway connections one client address may hold; past it, its idle ones are "
             "closed, else it gets 503"},
    {.name = "cors", .kind = STR, FIELD(cfg.cors), .min = 1, .arg = "ORIGINS", .note = "off",
     .help = "let browser pages from these origins call the gateway: * (any) or a comma-separated "
             "list (https://app.example,http://localhost:8080); a listed origin is echoed, with "
             "credentials allowed; under * any origin gets *, without credentials. OPTIONS "
             "preflights are answered. Wins over the app's \"origins\" setting"},
    {.name = "public", .kind = STR, FIELD(cfg.public_dir), .min = 1, .arg = "DIR", .note = "none",
     .help = "serve the files of DIR on the gateway (GET and HEAD that no service takes; "
             "index.html for a directory)"},
    {.name = "socket-ping-interval", .kind = INT, FIELD(cfg.socket_ping_interval_ms), .min = 1,
     .max = DAY_MS, .def = "25000", .arg = "MS",
     .help = "Socket.IO: the server pings each session every MS"},
    {.name = "socket-ping-timeout", .kind = INT, FIELD(cfg.socket_ping_timeout_ms), .min = 1,
     .max = DAY_MS, .def = "20000", .arg = "MS",
     .help = "Socket.IO: a session that does not answer a ping within MS is closed"},
    {.name = "socket-max-payload", .kind = SIZE, FIELD(cfg.socket_max_payload), .min = 16,
     .max = 1LL << 30, .def = "1000000", .arg = "BYTES",
     .help = "Socket.IO: largest message (websocket) or POST body (polling) a client may send"},
    {.name = "socket-max-buffer", .kind = SIZE, FIELD(cfg.socket_max_buffer), .min = 1024,
     .max = 1LL << 32, .def = "4194304", .arg = "BYTES",
     .help = "Socket.IO: output that may wait for a session; past it, the session is closed"},
    {.name = "socket-max", .kind = INT, FIELD(cfg.socket_max), .min = 1, .max = 1 << 24,
     .def = "65536", .arg = "N", .help = "Socket.IO: open sessions; past it, new ones get 503"},
    {.name = "timeout", .kind = INT, FIELD(cfg.timeout_ms), .min = 1, .max = DAY_MS,
     .def = "10000", .arg = "MS", .help = "remote call timeout"},
    {.name = "shutdown-timeout", .kind = INT, FIELD(cfg.shutdown_ms), .min = 1, .max = DAY_MS,
     .def = "5000", .arg = "MS", .help = "how long calls in flight may run on at shutdown"},
    {.name = "name", .kind = STR, FIELD(cfg.name), .min = 1, .arg = "NAME", .note = "host-pid",
     .help = "node name shown in logs and listings"}, /* (main sets the default) */
    {.name = "port", .kind = INT, FIELD(cfg.port), .max = 65535, .def = "0", .arg = "PORT",
     .note = "any free port", .help = "TCP port of the RPC listener"},
    {.name = "bind", .kind = STR, FIELD(cfg.bind), .def = "0.0.0.0", .arg = "ADDR",
     .help = "address of the RPC listener and of discovery"},
    {.name = "key", .kind = STR, FIELD(cfg.key), .min = 1, .def = "default", .arg = "NAME",
     .help = "cluster partition: only nodes with the same key see each other"},
    {.name = "secret", .kind = SECRET, .arg = "S", .note = "none",
     .help = "cluster secret: beacons are authenticated and links run TLS; only nodes with the "
             "same secret see and reach each other. Also $FDN_SECRET, which other users cannot "
             "see in ps: prefer it. Without one, a node whose RPC listener is not on loopback "
             "warns at start: anyone who reaches it can call every service"},
    {.name = "multicast", .kind = GROUP_PORT, .def = FDN_DISCOVERY_GROUP ":" QUOTE(FDN_DISCOVERY_PORT),
     .arg = "GROUP:PORT", .help = "discovery group"},
    {.name = "seeds", .kind = STR, FIELD(cfg.seeds), .arg = "HOST:PORT,...", .note = "none",
     .help = "RPC addresses of nodes to join, where multicast is unavailable"},
    {.name = "nats", .kind = STR, FIELD(cfg.nats), .min = 1, .arg = "URL,...", .note = "none",
     .help = "use this NATS server (nats://[user:pass@]host:port, several comma-separated) for "
             "discovery, calls and events instead of multicast and TCP links: no beacon is sent "
             "and no RPC listener opened. With --secret every message is sealed. tls://host:port "
             "requires TLS (the server's certificate checked against the system's CA bundle and "
             "its host name); a nats:// server that requires TLS gets the same checks. Also "
             "$FDN_NATS, which other users cannot see in ps: prefer it for credentials"},
    {.name = "nats-ca", .kind = STR, FIELD(cfg.nats_ca), .min = 1, .arg = "FILE",
     .note = "the system's only",
     .help = "--nats: also trust the CA certificates of this PEM file (a private cluster's), and "
             "require TLS. Also $FDN_NATS_CA"},
    {.name = "grace", .kind = INT, FIELD(cfg.grace_ms), .max = DAY_MS, .def = "10000",
     .arg = "MS", .help = "how long a path without provider keeps its proxy"},
    {.name = "ping-timeout", .kind = INT, FIELD(cfg.ping_timeout_ms), .max = DAY_MS,
     .floor = 100, .def = "3000", .arg = "MS",
     .help = "a silent link is declared lost after MS, 100 at least"},
    {.name = "max-frame", .kind = SIZE, FIELD(cfg.max_frame), .min = 1024, .max = 1 << 30,
     .def = "1048576", .arg = "BYTES", .help = "largest RPC frame"},
    {.name = "json", .kind = FLAG, FIELD(json), .help = "fdnode ls: print JSON instead of a table"},
    {.name = "config", .kind = STR, FIELD(cfg.config_dir), .min = 1, .arg = "DIR",
     .note = "config/ beside the first script",
     .help = "the app's configuration folder: default.json, then $FDN_ENV.json (else "
             "$NODE_ENV.json), then custom-environment-variables.json, into app:get"},
    {.name = "watch", .kind = FLAG, FIELD(cfg.watch),
     .help = "reload the scripts (and the Lua files they require) when they change; SIGHUP "
             "reloads them with or without it"},
    {.name = "call-budget", .kind = INT, FIELD(cfg.call_budget_ms), .max = DAY_MS, .def = "1000",
     .arg = "MS", .note = "0: off", .help = "Lua that runs MS without yielding is stopped"},
    {.name = "lua-memory", .kind = SIZE, FIELD(cfg.lua_memory), .max = 1 << 20, .shift = 20,
     .def = "1024", .arg = "MB", .note = "0: none", .help = "cap on the Lua state's memory"},
    {.name = "spin", .kind = INT, FIELD(cfg.spin_us), .max = 10000, .def = "50", .arg = "US",
     .note = "0: sleep at once",
     .help = "after handling work, poll US microseconds for more before sleeping"},
    {.name = "log-level", .kind = LEVEL, FIELD(cfg.log_level), .def = "info", .arg = "LEVEL",
     .help = "debug, info, warn or error"},
    {.name = "admin", .kind = HOST_PORT, .arg = "[HOST:]PORT", .note = "off",
     .help = "serve operators on HOST (default 127.0.0.1) and PORT: /metrics (Prometheus), "
             "/healthz, /readyz, and the live cluster page at /; never the public gateway"},
    {.name = "log-format", .kind = STR, FIELD(cfg.log_format), .def = "text", .arg = "FORMAT",
     .help = "text, or json: one JSON object per line (time, level, node, message, fields)"},
    {.name = "access-log", .kind = FLAG, FIELD(cfg.access_log),
     .help = "log a line per REST or Socket.IO request: method, path, status, duration"},
    {.name = "help", .letter = 'h', .kind = HELP, .help = "show this help and exit"},
    {.name = "version", .letter = 'V', .kind = VERSION, .help = "print the version and exit"},
    /* settings with no flag */
    {.kind = INT, FIELD(cfg.http_max_conns), .max = INT_MAX, .def = "1024"},
    {.kind = SIZE, FIELD(cfg.max_pending), .max = LLONG_MAX, .def = "8388608"},
};
/* clang-format on */
#define NOPTS (sizeof opts / sizeof opts[0])

/* What a number's argument is, by its name in --help. */
static const char *unit(const char *arg)
{
    static const char *const units[][2] = {
        {"MS", "a duration in milliseconds"},
        {"US", "a duration in microseconds"},
        {"BYTES", "a size in bytes"},
        {"MB", "a size in MB"},
        {"PORT", "a port number"},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(arg, units[i][0]) == 0)
            return units[i][1];
    return "a number";
}

/* Says what was wrong, in one line on stderr; returns the exit status, 2. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fdnode: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see fdnode --help)\n");
    va_end(ap);
    return 2;
}
/* 1 when dir is NULL (not given) or a directory we can open; else 0, with errno set. */
static int readable_dir(const char *dir)
{
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -2;
    if (fd >= 0)
        close(fd);
    return fd != -1;
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

/* Takes $NAME ($FDN_SECRET, $FDN_NATS) out of the process: a copy (secret_copy), then its
 * value is wiped where it is (unsetenv only drops the pointer: the bytes stay in the
 * environment block, which /proc/PID/environ shows for the life of the process), then it is
 * unset, so that nothing the node starts inherits it. *set: whether it was there at all. */
static char *take_env_secret(const char *name, int *set)
{
    size_t len = strlen(name);
    char *copy = NULL;
    *set = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, name, len) != 0 || (*e)[len] != '=')
            continue;
        char *value = *e + len + 1;
        if (!*set) /* the first, as getenv */
            copy = secret_copy(value);
        *set = 1;
        explicit_bzero(value, strlen(value));
    }
    unsetenv(name);
    return copy;
}

/* $FDN_NATS and $FDN_NATS_CA where --nats and --nats-ca were not given (the flags win), and
 * the CA file readable: 0, or the exit status after saying what is wrong. */
static int nats_env(struct cli *c)
{
    int set;
    c->env_nats = take_env_secret("FDN_NATS", &set);
    if (!c->cfg.nats && set && !c->env_nats)
        return fail("FDN_NATS is set but empty or blank: give it the NATS URL, or unset it");
    if (!c->cfg.nats)
        c->cfg.nats = c->env_nats;
    const char *ca = getenv("FDN_NATS_CA");
    if (!c->cfg.nats_ca && ca && *ca)
        c->cfg.nats_ca = ca;
    if (!c->cfg.nats_ca)
        return 0;
    if (!c->cfg.nats)
        return fail("--nats-ca (or $FDN_NATS_CA) is for --nats: give the NATS URL too");
    FILE *f = fopen(c->cfg.nats_ca, "r");
    if (!f)
        return fail("--nats-ca: '%s': %s", c->cfg.nats_ca, strerror(errno));
    fclose(f);
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

/* Sets o's field from arg, argv's or o's default; 0, or fail's status. */
static int set(struct cli *c, const struct opt *o, const char *arg)
{
    char *field = (char *)c + o->off;
    long long v;
    switch (o->kind) {
    case INT:
    case SIZE:
        if (parse_number(arg, o->min, o->max, &v) < 0)
            return fail("--%s: '%s' is not %s (%lld to %lld)", o->name, arg, unit(o->arg), o->min,
                        o->max);
        v = v < o->floor ? o->floor : v;
        if (o->kind == INT)
            *(int *)field = (int)v;
        else
            *(size_t *)field = (size_t)v << o->shift;
        return 0;
    case STR:
        if (o->min && !*arg)
            return fail("--%s must not be empty", o->name);
        *(const char **)field = arg;
        return 0;
    case FLAG:
        *(int *)field = 1;
        return 0;
    case LEVEL:
        if ((*(int *)field = fdn_log_parse_level(arg)) < 0)
            return fail("--%s: '%s' is not one of debug, info, warn, error", o->name, arg);
        return 0;
    case GROUP_PORT: {
        const char *colon = strrchr(arg, ':');
        if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof c->group ||
            parse_number(colon + 1, 1, 65535, &v) < 0)
            return fail("--%s: '%s' is not GROUP:PORT", o->name, arg);
        memcpy(c->group, arg, (size_t)(colon - arg));
        c->group[colon - arg] = 0;
        c->cfg.mcast_group = c->group;
        c->cfg.mcast_port = (int)v;
        return 0;
    }
    case HOST_PORT: {
        const char *colon = strrchr(arg, ':');
        const char *host = colon ? arg : "127.0.0.1";
        size_t hlen = colon ? (size_t)(colon - arg) : strlen(host);
        if (hlen && host[0] == '[' && host[hlen - 1] == ']') { /* [::1]:9100 */
            host++;
            hlen -= 2;
        }
        if ((colon && !hlen) || hlen >= sizeof c->admin_host ||
            parse_number(colon ? colon + 1 : arg, 1, 65535, &v) < 0)
            return fail("--%s: '%s' is not [HOST:]PORT", o->name, arg);
        memcpy(c->admin_host, host, hlen);
        c->admin_host[hlen] = 0;
        c->cfg.admin_host = c->admin_host;
        c->cfg.admin_port = (int)v;
        return 0;
    }
    case SECRET:
        secret_free(c->secret);
        c->secret = secret_copy(arg);
        /* out of sight of ps (as far as it can be: it was visible until now); arg is argv's */
        memset((char *)arg, '*', strlen(arg));
        if (!c->secret)
            return fail("--secret must not be empty or blank");
        return 0;
    default: /* HELP, VERSION: main's */
        return 0;
    }
}

#define HELP_COL 23   /* where the help of every option starts */
#define HELP_WIDTH 90 /* where it wraps */

/* Prints " " and the len bytes at w, a word of help that goes on at column col, or on a new
 * line indented to HELP_COL when it would pass HELP_WIDTH; returns the column after it. */
static int put_word(const char *w, int len, int col)
{
    if (col >= HELP_COL && col + 1 + len > HELP_WIDTH)
        col = printf("\n%*s", HELP_COL - 1, "") - 1;
    return col + printf(" %.*s", len, w);
}

static void help(void)
{
    fputs(usage_text, stdout);
    for (const struct opt *o = opts; o < opts + NOPTS; o++) {
        if (!o->name)
            continue;
        int col = printf("  ");
        if (o->letter)
            col += printf("-%c, ", o->letter);
        col += printf("--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        col += printf("%*s", col + 1 >= HELP_COL ? 1 : HELP_COL - 1 - col, "");
        for (const char *t = o->help; *t; t += strspn(t, " ")) {
            int len = (int)strcspn(t, " ");
            col = put_word(t, len, col);
            t += len;
        }
        char dflt[128]; /* one word: never wrapped inside */
        int len = 0;
        if (o->def || o->note)
            len = snprintf(dflt, sizeof dflt, "(default: %s%s%s)", o->def ? o->def : o->note,
                           o->def && o->note ? ", " : "", o->def && o->note ? o->note : "");
        if (len > 0)
            put_word(dflt, len, col);
        putchar('\n');
    }
}

/* The row of what getopt_long returned: a long option's index + 256, or a letter. */
static const struct opt *row_of(int ch)
{
    if (ch >= 256)
        return &opts[ch - 256];
    for (const struct opt *o = opts; o < opts + NOPTS; o++)
        if (o->letter == ch)
            return o;
    return NULL;
}

int main(int argc, char **argv)
{
    static char default_name[300];
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(default_name, sizeof default_name, "%s-%ld", host, (long)getpid());

    struct cli c = {.cfg.name = default_name};
    for (const struct opt *o = opts; o < opts + NOPTS; o++)
        if (o->def && set(&c, o, o->def) != 0)
            return 1; /* a default its own row refuses: said above */
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

    /* options may follow the scripts (fdnode app.lua --http 3030), except for
     * `fdnode run`, where everything after the script is the script's own */
    char optstring[NOPTS + 3];
    struct option longs[NOPTS + 1];
    size_t ns = 0, nl = 0;
    if (strcmp(mode, "run") == 0)
        optstring[ns++] = '+';
    optstring[ns++] = ':'; /* a missing value is told apart from an unknown option */
    for (size_t i = 0; i < NOPTS; i++) {
        if (!opts[i].name)
            continue;
        if (opts[i].letter)
            optstring[ns++] = (char)opts[i].letter;
        longs[nl++] = (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument,
                                      NULL, 256 + (int)i};
    }
    optstring[ns] = 0;
    longs[nl] = (struct option){0};
    opterr = 0; /* we say what was wrong ourselves, in one line */
    int ch;
    while ((ch = getopt_long(argc, argv, optstring, longs, NULL)) != -1) {
        if (ch == ':')
            return fail("option '%s' needs a value", argv[optind - 1]);
        const struct opt *o = row_of(ch);
        if (!o)
            return fail("unknown option '%s'", argv[optind - 1]);
        if (o->kind == HELP) {
            help();
            return 0;
        }
        if (o->kind == VERSION) {
            printf("fdnode %s\n", FDN_VERSION);
            return 0;
        }
        int rc = set(&c, o, optarg);
        if (rc)
            return rc;
    }
    if (c.json && strcmp(mode, "ls") != 0)
        return fail("--json is an option of fdnode ls");
    if (optind >= argc && (strcmp(mode, "serve") == 0 || strcmp(mode, "run") == 0))
        return fail("no script given");
    if (strcmp(mode, "call") == 0 && argc - optind < 2)
        return fail("usage: fdnode call PATH METHOD [ID] [JSON]");
    if ((c.cfg.cors || c.cfg.public_dir) && !c.cfg.http_port)
        return fail("--%s is for the REST gateway: give --http PORT too",
                    c.cfg.cors ? "cors" : "public");
    const char *why;
    struct fdn_cors *cors = c.cfg.cors ? fdn_cors_new(c.cfg.cors, strlen(c.cfg.cors), &why) : NULL;
    if (c.cfg.cors && !cors)
        return fail("--cors: '%s': %s", c.cfg.cors, why);
    fdn_cors_free(cors);
    if (!readable_dir(c.cfg.public_dir))
        return fail("--public: '%s' is not a readable directory (%s)", c.cfg.public_dir,
                    strerror(errno));
    if (!readable_dir(c.cfg.config_dir))
        return fail("--config: '%s' is not a readable directory (%s)", c.cfg.config_dir,
                    strerror(errno));
    if (strcmp(mode, "ls") == 0 && c.json)
        mode = "ls-json";
    int env_set;
    char *env_secret = take_env_secret("FDN_SECRET", &env_set);
    if (c.secret) { /* --secret wins over $FDN_SECRET */
        secret_free(env_secret);
    } else if (env_set && !env_secret) { /* what a missing Kubernetes secret gives */
        return fail("FDN_SECRET is set but empty or blank: give it the cluster secret, or unset "
                    "it to run without one");
    } else {
        c.secret = env_secret;
    }
    c.cfg.secret = c.secret;
    int rc = nats_env(&c);
    if (rc)
        return rc;
    if (strcmp(c.cfg.log_format, "text") != 0 && strcmp(c.cfg.log_format, "json") != 0)
        return fail("--log-format: '%s' is not text or json", c.cfg.log_format);
    fdn_log_set_level(c.cfg.log_level);
    fdn_log_set_format(strcmp(c.cfg.log_format, "json") == 0, c.cfg.name);
    c.cfg.lib_dir = find_lib_dir();
    signal(SIGPIPE, SIG_IGN);

    struct fdn_node *n = fdn_node_new(&c.cfg);
    if (!n)
        return 1;
    int code = 1;
    if (fdn_node_boot(n, argc - optind, argv + optind, mode) == 0)
        code = fdn_node_run(n);
    fdn_node_free(n);
    secret_free(c.secret);
    secret_free(c.env_nats);
    return code;
}
