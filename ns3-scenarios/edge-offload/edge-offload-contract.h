/*
 * fedmarl-ns3: the edge-offload scenario's contract with Python, declared once: its array
 * table, dims, constants, and the server that serves it over the shared-memory bridge.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_EDGE_OFFLOAD_CONTRACT_H
#define FEDMARL_EDGE_OFFLOAD_CONTRACT_H

#include "edge-offload-params.h"
#include "edge-offload-scenario.h"

#include "scenario-arrays.h"
#include "scenario-server.h"

#include <memory>

namespace ns3
{
namespace fedmarl
{

/// @return the array table: name, dtype, shape, direction and doc of every segment array
const ArrayTable<EdgeOffloadArrays>& EdgeOffloadArrayTable();

/// @param p parameters @return the dim symbols' values: U, E, K, W, F, C, H
Dims EdgeOffloadDims(const EdgeOffloadParams& p);

/// The binary's server: identity, tables, dims, checks.
using EdgeOffloadServer = ScenarioServer<EdgeOffloadParams, EdgeOffloadArrays>;

/// @return the server of fedmarl-edge-offload
EdgeOffloadServer MakeEdgeOffloadServer();

/// @return the scenario serving RESET / STEP / CLOSE on `arrays`
std::unique_ptr<ServedScenario> MakeServedEdgeOffload(const EdgeOffloadParams& p,
                                                      const EdgeOffloadArrays& arrays);

} // namespace fedmarl

/// Owned arrays of the contract's sizes for parameters `p` (tests, no segment).
class EdgeOffloadArrayStore : public fedmarl::ArrayStore<EdgeOffloadArrays>
{
  public:
    explicit EdgeOffloadArrayStore(const fedmarl::EdgeOffloadParams& p)
        : ArrayStore(fedmarl::EdgeOffloadArrayTable(), fedmarl::EdgeOffloadDims(p))
    {
    }
};

} // namespace ns3

#endif // FEDMARL_EDGE_OFFLOAD_CONTRACT_H
