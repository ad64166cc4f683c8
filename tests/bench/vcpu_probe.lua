-- vcpu_probe.lua: a fixed piece of pure Lua work (3·10^7 small tables), timed. Pinned to one
-- vCPU (`taskset -c N lua5.4 tests/bench/vcpu_probe.lua`) it tells how fast that vCPU is
-- right now: on the 2-vCPU VMs the figures in the README come from, 1.9 s when fast and
-- up to 3.6 s when the host slows it. tests/bench/versus runs it before each run.
local t = os.clock()
local s = 0
for i = 1, 3e7 do
  local x = { a = i }
  s = s + x.a
end
assert(s > 0)
print(string.format("%.3f", os.clock() - t))
