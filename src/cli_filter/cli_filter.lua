-- kfarm's cli_filter for Slurm 22.05 (cli_filter/lua; install as cli_filter.lua beside slurm.conf
-- and set CliFilterPlugins=lua). It turns the SPANK options of spank_kfarm.so, --fpga-vfs=N and
-- --fpga-bitstream=NAME, into the GRES request slurmctld schedules (--gres=fpgavf[:NAME]:N), so
-- that a job waits for free VFs like a job waits for GPUs. It runs in srun/sbatch/salloc after
-- every option is parsed and before anything is sent to slurmctld; returning slurm.ERROR stops
-- the submission, whichever way spank_kfarm.so is listed in plugstack.conf.
-- Why here: a SPANK plugin cannot change a job's request (spank.h has no item for it), and a
-- job_submit plugin in slurmctld sees the SPANK options only as opaque environment strings; the
-- cli_filter reads them as options.spank.kfarm and sets options.gres like --gres would.

-- The GRES name of the VFs in slurm.conf (GresTypes=, NodeName=... Gres=) and gres.conf.
local GRES = "fpgavf"

local function refuse(fmt, ...)
  slurm.log_error("kfarm: " .. fmt, ...)
  return slurm.ERROR
end

-- The fpgavf GRES the nodes have, from sinfo: the most VFs one node has (any type, and per type
-- = bitstream) and the types. nil when sinfo cannot answer (slurmctld then checks alone).
local function node_vfs()
  local p = io.popen("sinfo -h -N -o '%N %G' 2>/dev/null")
  if not p then return nil end
  local most, per_type, seen = 0, {}, false
  for line in p:lines() do
    local g = (line:match("^%S+%s+(.*)$") or ""):gsub("%b()", "")
    local node_total = 0
    for entry in g:gmatch("[^,]+") do
      local parts = {}
      for x in entry:gmatch("[^:]+") do parts[#parts + 1] = x end
      if parts[1] == GRES and #parts >= 2 then
        local count = tonumber(parts[#parts]) or 0
        local t = #parts == 3 and parts[2] or ""
        per_type[t] = math.max(per_type[t] or 0, count)
        node_total = node_total + count
      end
    end
    most = math.max(most, node_total)
    seen = true
  end
  p:close()
  if not seen then return nil end
  return {most = most, per_type = per_type}
end

local function typed_names(per_type)
  local names = {}
  for t, _ in pairs(per_type) do
    if t ~= "" then names[#names + 1] = t end
  end
  table.sort(names)
  return names
end

function slurm_cli_setup_defaults(options, early_pass)
  return slurm.SUCCESS
end

function slurm_cli_pre_submit(options, offset)
  local spank = options.spank
  local k = (spank and spank["kfarm"]) or {}
  local vfs, bitstream = k["fpga-vfs"], k["fpga-bitstream"]
  if vfs == nil then
    if bitstream ~= nil then
      return refuse("--fpga-bitstream=%s needs --fpga-vfs=N (how many VFs per node)", bitstream)
    end
    return slurm.SUCCESS
  end
  local n = tonumber(vfs)
  if n == nil then return slurm.SUCCESS end -- spank_kfarm.so refused the syntax already
  local gres = options.gres
  if gres ~= nil and gres ~= "none" and gres:find(GRES, 1, true) then
    -- --gres=fpgavf:N written by hand too: that request is what Slurm schedules.
    return slurm.SUCCESS
  end
  local want = GRES .. ":" .. n
  local nodes = node_vfs()
  if nodes ~= nil then
    local typed = typed_names(nodes.per_type)
    local most = nodes.most
    if bitstream ~= nil and #typed > 0 then
      if nodes.per_type[bitstream] == nil then
        return refuse("--fpga-bitstream=%s: no node has VFs with bitstream %s; available: %s",
                      bitstream, bitstream, table.concat(typed, ", "))
      end
      want = GRES .. ":" .. bitstream .. ":" .. n
      most = nodes.per_type[bitstream]
    end
    if most == 0 then
      return refuse("--fpga-vfs=%d: no node of this cluster has FPGA VFs (GRES %s)", n, GRES)
    end
    if n > most then
      return refuse("--fpga-vfs=%d: the most FPGA VFs a node has%s is %d (GRES %s); ask for " ..
                    "at most %d per node", n, bitstream and (" with " .. bitstream) or "", most,
                    GRES, most)
    end
  end
  if gres ~= nil and gres ~= "" and gres ~= "none" then
    want = gres .. "," .. want
  end
  options.gres = want
  return slurm.SUCCESS
end

function slurm_cli_post_submit(offset, jobid, stepid)
  return slurm.SUCCESS
end
