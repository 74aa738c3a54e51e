/*
 * fedmarl-ns3: the link gains of the edge-offload hall as one ns-3 PropagationLossModel.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "edge-link-loss-model.h"

#include "three-gpp-indoor-factory-propagation-loss-model.h"

#include "ns3/log.h"
#include "ns3/mobility-model.h"

#include <algorithm>
#include <cmath>

namespace ns3
{

NS_LOG_COMPONENT_DEFINE("EdgeLinkLossModel");
NS_OBJECT_ENSURE_REGISTERED(EdgeLinkLossModel);

TypeId
EdgeLinkLossModel::GetTypeId()
{
    static TypeId tid = TypeId("ns3::EdgeLinkLossModel")
                            .SetParent<PropagationLossModel>()
                            .SetGroupName("Propagation")
                            .AddConstructor<EdgeLinkLossModel>();
    return tid;
}

EdgeLinkLossModel::EdgeLinkLossModel() = default;
EdgeLinkLossModel::~EdgeLinkLossModel() = default;

void
EdgeLinkLossModel::DoDispose()
{
    for (auto* m : {&m_highBs, &m_lowBs, &m_highHigh})
    {
        if (*m)
        {
            (*m)->Dispose();
            *m = nullptr;
        }
    }
    m_mobility.clear();
    m_index.clear();
    m_cache.clear();
    m_fading.reset();
    PropagationLossModel::DoDispose();
}

void
EdgeLinkLossModel::Configure(Ptr<ThreeGppIndoorFactoryPropagationLossModel> highBs,
                             Ptr<ThreeGppIndoorFactoryPropagationLossModel> lowBs,
                             Ptr<ThreeGppIndoorFactoryPropagationLossModel> highHigh,
                             double rho,
                             int64_t fadingStream)
{
    m_highBs = highBs;
    m_lowBs = lowBs;
    m_highHigh = highHigh;
    m_fading = std::make_unique<fedmarl::Ar1RayleighFading>(rho, /*lazy=*/true);
    m_fading->AssignStreams(fadingStream);
}

void
EdgeLinkLossModel::AddNode(Ptr<MobilityModel> mobility, uint32_t index, bool isAp)
{
    if (m_mobility.size() <= index)
    {
        m_mobility.resize(index + 1);
        m_isAp.resize(index + 1, 0);
    }
    m_mobility[index] = mobility;
    m_isAp[index] = isAp ? 1 : 0;
    m_index[PeekPointer(mobility)] = index;
}

void
EdgeLinkLossModel::NewInterval(bool largeScale)
{
    m_fading->Advance();
    ++m_epoch;
    if (largeScale)
    {
        ++m_lsEpoch;
    }
}

double
EdgeLinkLossModel::GetGainDb(uint32_t i, uint32_t j)
{
    const uint32_t a = std::min(i, j);
    const uint32_t b = std::max(i, j);
    const uint64_t key = (static_cast<uint64_t>(a) << 32) | b;
    Entry& entry = m_cache[key];
    if (entry.epoch == m_epoch)
    {
        return entry.gainDb;
    }
    if (entry.lsEpoch != m_lsEpoch)
    {
        ++m_evaluations;
        const bool apA = m_isAp[a];
        const bool apB = m_isAp[b];
        const auto& model = (apA && apB) ? m_highHigh : ((apA || apB) ? m_highBs : m_lowBs);
        entry.lossDb = -model->CalcRxPower(0.0, m_mobility[a], m_mobility[b]);
        entry.lsEpoch = m_lsEpoch;
    }
    const double h2 = std::max(m_fading->Power(a, b), 1e-30);
    entry.epoch = m_epoch;
    entry.gainDb = -entry.lossDb + 10.0 * std::log10(h2);
    return entry.gainDb;
}

uint64_t
EdgeLinkLossModel::GetEvaluations() const
{
    return m_evaluations;
}

double
EdgeLinkLossModel::DoCalcRxPower(double txPowerDbm,
                                 Ptr<MobilityModel> a,
                                 Ptr<MobilityModel> b) const
{
    const auto ia = m_index.find(PeekPointer(a));
    const auto ib = m_index.find(PeekPointer(b));
    NS_ASSERT_MSG(ia != m_index.end() && ib != m_index.end(), "unregistered node");
    return txPowerDbm +
           const_cast<EdgeLinkLossModel*>(this)->GetGainDb(ia->second, ib->second);
}

int64_t
EdgeLinkLossModel::DoAssignStreams(int64_t /*stream*/)
{
    return 0; // the component models get their streams in Configure's caller
}

} // namespace ns3
