/*
 * fedmarl-ns3: the inx-factory scenario's contract with Python, declared once: its array table
 * (what the binary binds and --contract-json prints), its dims, its constants, and the server
 * that serves it over the shared-memory bridge.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INX_FACTORY_CONTRACT_H
#define FEDMARL_INX_FACTORY_CONTRACT_H

#include "inx-factory-params.h"
#include "inx-factory-scenario.h"

#include "scenario-arrays.h"
#include "scenario-server.h"

#include <memory>
#include <string>

namespace ns3
{
namespace fedmarl
{

/// @return the array table: name, dtype, shape, direction and doc of every segment array
const ArrayTable<InxFactoryArrays>& InxFactoryArrayTable();

/// @param p parameters @return the dim symbols' values: N, M, K, W
Dims InxFactoryDims(const InxFactoryParams& p);

/**
 * The checks only the ns-3 models impose beyond the dataclass's ranges (time resolution,
 * clutter density 1, lanes too full for min_separation), named by flag.
 * @param p parameters
 * @throws ParamError naming the flag
 */
void CheckInxFactoryNs3Limits(const InxFactoryParams& p);

/// The binary's server: identity, tables, dims, checks (relations and ns-3 limits).
using InxFactoryServer = ScenarioServer<InxFactoryParams, InxFactoryArrays>;

/// @return the server of fedmarl-inx-factory
InxFactoryServer MakeInxFactoryServer();

/**
 * @param p parameters
 * @param arrays the bound arrays
 * @param trace --trace=FILE, or empty
 * @param drive --drive=FILE (trace-driven positions and channels), or empty
 * @return the scenario serving RESET / STEP / CLOSE on `arrays`
 */
std::unique_ptr<ServedScenario> MakeServedInxFactory(const InxFactoryParams& p,
                                                     const InxFactoryArrays& arrays,
                                                     const std::string& trace,
                                                     const std::string& drive = "");

} // namespace fedmarl

/// Owned arrays of the contract's sizes for parameters `p`, for running the scenario without
/// a segment (tests): InxFactoryArrays whose spans view zero-initialised buffers.
class InxFactoryArrayStore : public fedmarl::ArrayStore<InxFactoryArrays>
{
  public:
    /// @param p the parameters that fix the sizes
    explicit InxFactoryArrayStore(const fedmarl::InxFactoryParams& p)
        : ArrayStore(fedmarl::InxFactoryArrayTable(), fedmarl::InxFactoryDims(p))
    {
    }
};

} // namespace ns3

#endif // FEDMARL_INX_FACTORY_CONTRACT_H
