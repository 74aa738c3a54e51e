/*
 * fedmarl-ns3: ns-3's WifiRadioEnergyModel without its per-state-change switch-off event.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "edge-radio-energy-model.h"

#include "ns3/energy-source.h"
#include "ns3/simulator.h"

namespace ns3
{
namespace energy
{

NS_OBJECT_ENSURE_REGISTERED(EdgeWifiRadioEnergyModel);

TypeId
EdgeWifiRadioEnergyModel::GetTypeId()
{
    static TypeId tid = TypeId("ns3::energy::EdgeWifiRadioEnergyModel")
                            .SetParent<WifiRadioEnergyModel>()
                            .SetGroupName("Energy")
                            .AddConstructor<EdgeWifiRadioEnergyModel>();
    return tid;
}

EdgeWifiRadioEnergyModel::EdgeWifiRadioEnergyModel()
    : m_last(Simulator::Now())
{
}

EdgeWifiRadioEnergyModel::~EdgeWifiRadioEnergyModel() = default;

void
EdgeWifiRadioEnergyModel::SetEnergySource(const Ptr<EnergySource> source)
{
    WifiRadioEnergyModel::SetEnergySource(source);
    m_src = source;
}

double
EdgeWifiRadioEnergyModel::GetCurrentA(WifiPhyState state) const
{
    switch (state)
    {
    case WifiPhyState::IDLE:
        return GetIdleCurrentA();
    case WifiPhyState::CCA_BUSY:
        return GetCcaBusyCurrentA();
    case WifiPhyState::TX:
        return GetTxCurrentA();
    case WifiPhyState::RX:
        return GetRxCurrentA();
    case WifiPhyState::SWITCHING:
        return GetSwitchingCurrentA();
    case WifiPhyState::SLEEP:
        return GetSleepCurrentA();
    case WifiPhyState::OFF:
        return 0.0;
    }
    return 0.0;
}

double
EdgeWifiRadioEnergyModel::DoGetCurrentA() const
{
    return GetCurrentA(m_state);
}

double
EdgeWifiRadioEnergyModel::GetTotalEnergyConsumption() const
{
    const double v = m_src ? m_src->GetSupplyVoltage() : 0.0;
    return m_total + (Simulator::Now() - m_last).GetSeconds() * GetCurrentA(m_state) * v;
}

void
EdgeWifiRadioEnergyModel::ChangeState(int newState)
{
    const auto s = static_cast<WifiPhyState>(newState);
    if (s == WifiPhyState::OFF)
    {
        // Only the base class's own switch-off event asks for OFF (SetEnergySource schedules
        // one); this scenario never turns a PHY off and its sources never run out.
        return;
    }
    if (m_src)
    {
        m_total += (Simulator::Now() - m_last).GetSeconds() * GetCurrentA(m_state) *
                   m_src->GetSupplyVoltage();
        m_src->UpdateEnergySource(); // integrates the old current
    }
    m_last = Simulator::Now();
    m_state = s;
}

void
EdgeWifiRadioEnergyModel::HandleEnergyChanged()
{
}

void
EdgeWifiRadioEnergyModel::HandleEnergyRecharged()
{
}

WifiPhyState
EdgeWifiRadioEnergyModel::GetState() const
{
    return m_state;
}

} // namespace energy
} // namespace ns3
