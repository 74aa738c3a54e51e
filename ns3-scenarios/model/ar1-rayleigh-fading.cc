/*
 * fedmarl-ns3: temporally correlated Rayleigh fading, an AR(1) process per link.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "ar1-rayleigh-fading.h"

#include "ns3/random-variable-stream.h"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace ns3
{
namespace fedmarl
{

namespace
{

void
CheckRho(double rho)
{
    if (!(rho >= -1.0 && rho <= 1.0))
    {
        throw std::invalid_argument("Ar1RayleighFading: rho must be in [-1, 1], got " +
                                    std::to_string(rho));
    }
}

} // namespace

Ar1RayleighFading::Ar1RayleighFading(double rho, bool lazy)
    : m_rho(rho),
      m_lazy(lazy),
      m_normal(CreateObject<NormalRandomVariable>())
{
    CheckRho(rho);
}

std::complex<double>
Ar1RayleighFading::DrawCn()
{
    // CN(0, 1): independent real and imaginary parts of variance 1/2 each.
    const double s = std::numbers::sqrt2 / 2.0;
    const double re = m_normal->GetValue(0.0, 1.0);
    const double im = m_normal->GetValue(0.0, 1.0);
    return {s * re, s * im};
}

void
Ar1RayleighFading::CatchUp(Link& link)
{
    const uint64_t gap = m_step - link.step;
    if (gap == 0)
    {
        return;
    }
    const double rhoGap = std::pow(m_rho, static_cast<double>(gap));
    // Var(h) stays 1: rho^(2g) + (1 - rho^(2g)).
    link.h = rhoGap * link.h + std::sqrt(1.0 - rhoGap * rhoGap) * DrawCn();
    link.step = m_step;
}

void
Ar1RayleighFading::CatchUpAll()
{
    for (auto& [key, link] : m_links)
    {
        CatchUp(link);
    }
}

void
Ar1RayleighFading::SetRho(double rho)
{
    CheckRho(rho);
    if (rho != m_rho)
    {
        // rho^g is only exact for a gap spent under one coefficient: settle the old ones first.
        CatchUpAll();
        m_rho = rho;
    }
}

double
Ar1RayleighFading::GetRho() const
{
    return m_rho;
}

void
Ar1RayleighFading::Advance()
{
    ++m_step;
    if (!m_lazy)
    {
        CatchUpAll();
    }
}

void
Ar1RayleighFading::Advance(double rho)
{
    SetRho(rho);
    Advance();
}

Ar1RayleighFading::Link&
Ar1RayleighFading::Get(uint32_t tx, uint32_t rx)
{
    auto [it, inserted] = m_links.try_emplace({tx, rx});
    if (inserted)
    {
        // Stationary start: a link seen for the first time is already in steady state.
        it->second.h = DrawCn();
        it->second.step = m_step;
    }
    else
    {
        CatchUp(it->second);
    }
    return it->second;
}

std::complex<double>
Ar1RayleighFading::Gain(uint32_t tx, uint32_t rx)
{
    return Get(tx, rx).h;
}

double
Ar1RayleighFading::Power(uint32_t tx, uint32_t rx)
{
    return std::norm(Get(tx, rx).h);
}

uint64_t
Ar1RayleighFading::GetStep() const
{
    return m_step;
}

size_t
Ar1RayleighFading::GetNLinks() const
{
    return m_links.size();
}

bool
Ar1RayleighFading::IsLazy() const
{
    return m_lazy;
}

void
Ar1RayleighFading::Reset()
{
    m_links.clear();
    m_step = 0;
}

int64_t
Ar1RayleighFading::AssignStreams(int64_t stream)
{
    m_normal->SetStream(stream);
    return 1;
}

} // namespace fedmarl
} // namespace ns3
