-- bench_json.lua: encode/decode throughput of fdn.core.json against lua-cjson, on a Feathers
-- find() page (100 records, ASCII or with non-ASCII text) and an rpc reply ({id=7, text="hello"}).
-- One JSON line per case.
-- Run: lua5.4 tests/bench/bench_json.lua [path/to/fdn_core_json.so]   (FDN_BENCH_SECONDS=1)
-- Each case runs 5 rounds of SECONDS/5 and reports the best, which steadies a busy machine.

local clock = os.clock
local format = string.format

local function load_fdn()
    local ok, m = pcall(require, "fdn.core.json")
    if ok then
        return m
    end
    local path = (arg and arg[1]) or os.getenv("FDN_JSON_SO") or "./fdn_core_json.so"
    local open = assert(package.loadlib(path, "luaopen_fdn_core_json"))
    return open()
end

local fdn = load_fdn()
local cjson = require("cjson")
local seconds = tonumber(os.getenv("FDN_BENCH_SECONDS")) or 1

local function records(n, text, name)
    local list = {}
    for i = 1, n do
        list[i] = {
            id = i,
            text = text,
            createdAt = 1732000000 + i,
            tags = { "a", "b" },
            score = 3.5,
            user = { id = 7, name = name },
        }
    end
    return list
end

local payloads = {
    { name = "records100", value = records(100, "hello world", "x") },
    -- strings with 2-, 3- and 4-byte UTF-8 sequences (fdn validates them on decode, cjson does not)
    { name = "records100_utf8", value = records(100, "h\u{e9}llo w\u{f6}rld \u{2014} \u{65e5}\u{672c} \u{1F600}",
        "Z\u{fc}rich") },
    { name = "small", value = { id = 7, text = "hello" } },
}

local ROUNDS = 5

-- Runs f in batches until `budget` seconds of CPU time have passed; returns calls per second.
local function round(f, budget)
    local n, batch, t0 = 0, 16, clock()
    local elapsed = 0
    while elapsed < budget do
        for _ = 1, batch do
            f()
        end
        n = n + batch
        elapsed = clock() - t0
        if elapsed < budget / 10 then
            batch = batch * 2
        end
    end
    return n / elapsed
end

local function rate(f)
    local best = 0
    for _ = 1, ROUNDS do
        best = math.max(best, round(f, seconds / ROUNDS))
    end
    return best
end

local function report(op, payload, codec, ops, bytes)
    print(format('{"bench":"json","op":"%s","payload":"%s","codec":"%s","bytes":%d,'
        .. '"ops_per_s":%.0f,"mb_per_s":%.1f}', op, payload, codec, bytes, ops, ops * bytes / 1e6))
end

local codecs = {
    { name = "fdn", encode = fdn.encode, decode = fdn.decode },
    { name = "cjson", encode = cjson.encode, decode = cjson.decode },
}

for _, p in ipairs(payloads) do
    local text = assert(fdn.encode(p.value))
    -- sanity: fdn reads back what it wrote (key order may differ, the length may not)
    assert(#fdn.encode(assert(fdn.decode(text))) == #text)
    for _, c in ipairs(codecs) do
        local enc, value = c.encode, p.value
        local out = enc(value)
        report("encode", p.name, c.name, rate(function()
            enc(value)
        end), #out)
    end
    for _, c in ipairs(codecs) do
        local dec = c.decode
        report("decode", p.name, c.name, rate(function()
            dec(text)
        end), #text)
    end
end
