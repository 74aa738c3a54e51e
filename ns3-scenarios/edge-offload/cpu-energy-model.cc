/*
 * fedmarl-ns3: the energy a device CPU draws from the node's energy source (DVFS model).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "cpu-energy-model.h"

#include "ns3/double.h"
#include "ns3/log.h"
#include "ns3/simulator.h"
#include "ns3/trace-source-accessor.h"

namespace ns3
{
namespace energy
{

NS_LOG_COMPONENT_DEFINE("CpuEnergyModel");
NS_OBJECT_ENSURE_REGISTERED(CpuEnergyModel);

TypeId
CpuEnergyModel::GetTypeId()
{
    static TypeId tid =
        TypeId("ns3::energy::CpuEnergyModel")
            .AddDeprecatedName("ns3::CpuEnergyModel")
            .SetParent<DeviceEnergyModel>()
            .SetGroupName("Energy")
            .AddConstructor<CpuEnergyModel>()
            .AddAttribute("Kappa",
                          "Effective switched capacitance: kappa f^2 J per cycle.",
                          DoubleValue(1e-28),
                          MakeDoubleAccessor(&CpuEnergyModel::m_kappa),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("IdlePowerW",
                          "Power drawn while the CPU has no work, W.",
                          DoubleValue(0.01),
                          MakeDoubleAccessor(&CpuEnergyModel::m_idlePowerW),
                          MakeDoubleChecker<double>(0.0))
            .AddAttribute("Frequency",
                          "Clock frequency while busy, Hz.",
                          DoubleValue(1e9),
                          MakeDoubleAccessor(&CpuEnergyModel::SetFrequency,
                                             &CpuEnergyModel::GetFrequency),
                          MakeDoubleChecker<double>(0.0))
            .AddTraceSource("TotalEnergyConsumption",
                            "Total energy consumed by the CPU, J.",
                            MakeTraceSourceAccessor(&CpuEnergyModel::m_totalEnergyConsumption),
                            "ns3::TracedValueCallback::Double");
    return tid;
}

CpuEnergyModel::CpuEnergyModel()
    : m_lastUpdate(Simulator::Now()),
      m_totalEnergyConsumption(0.0)
{
}

CpuEnergyModel::~CpuEnergyModel() = default;

void
CpuEnergyModel::DoDispose()
{
    m_source = nullptr;
    DeviceEnergyModel::DoDispose();
}

void
CpuEnergyModel::SetEnergySource(Ptr<EnergySource> source)
{
    NS_ASSERT(source);
    m_source = source;
}

double
CpuEnergyModel::GetPowerW() const
{
    return m_state == BUSY ? m_kappa * m_frequency * m_frequency * m_frequency : m_idlePowerW;
}

void
CpuEnergyModel::Integrate()
{
    const Time now = Simulator::Now();
    m_totalEnergyConsumption += (now - m_lastUpdate).GetSeconds() * GetPowerW();
    m_lastUpdate = now;
}

double
CpuEnergyModel::GetTotalEnergyConsumption() const
{
    return m_totalEnergyConsumption + (Simulator::Now() - m_lastUpdate).GetSeconds() * GetPowerW();
}

void
CpuEnergyModel::ChangeState(int newState)
{
    NS_ASSERT(newState == IDLE || newState == BUSY);
    if (newState == m_state)
    {
        return;
    }
    Integrate();
    if (m_source)
    {
        m_source->UpdateEnergySource(); // integrates the old current first
    }
    m_state = static_cast<State>(newState);
}

void
CpuEnergyModel::SetFrequency(double hz)
{
    if (hz == m_frequency)
    {
        return;
    }
    Integrate();
    if (m_source)
    {
        m_source->UpdateEnergySource();
    }
    m_frequency = hz;
}

double
CpuEnergyModel::GetFrequency() const
{
    return m_frequency;
}

CpuEnergyModel::State
CpuEnergyModel::GetState() const
{
    return m_state;
}

double
CpuEnergyModel::DoGetCurrentA() const
{
    const double v = m_source ? m_source->GetSupplyVoltage() : 0.0;
    return v > 0.0 ? GetPowerW() / v : 0.0;
}

void
CpuEnergyModel::HandleEnergyDepletion()
{
    NS_LOG_FUNCTION(this);
}

void
CpuEnergyModel::HandleEnergyRecharged()
{
    NS_LOG_FUNCTION(this);
}

void
CpuEnergyModel::HandleEnergyChanged()
{
}

} // namespace energy
} // namespace ns3
