/*
 * fedmarl-ns3: temporally correlated Rayleigh fading, an AR(1) process per link.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "ar1-rayleigh-fading.h"

#include "ns3/random-variable-stream.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

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
    // In (tx, rx) order, the order of the draws since the first version (an ordered map).
    std::vector<std::pair<std::pair<uint32_t, uint32_t>, Link*>> all;
    all.reserve(m_nLinks);
    for (uint32_t rx = 0; rx < m_byRx.size(); ++rx)
    {
        for (Entry& e : m_byRx[rx])
        {
            all.push_back({{e.tx, rx}, &e.link});
        }
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.first < b.first;
    });
    for (auto& [key, link] : all)
    {
        CatchUp(*link);
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
    if (rx >= m_byRx.size())
    {
        m_byRx.resize(static_cast<size_t>(rx) + 1);
    }
    std::vector<Entry>& links = m_byRx[rx];
    auto it = std::lower_bound(links.begin(), links.end(), tx, [](const Entry& e, uint32_t t) {
        return e.tx < t;
    });
    if (it == links.end() || it->tx != tx)
    {
        // Stationary start: a link seen for the first time is already in steady state.
        it = links.insert(it, Entry{tx, Link{DrawCn(), m_step}});
        ++m_nLinks;
    }
    else
    {
        CatchUp(it->link);
    }
    return it->link;
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
    return m_nLinks;
}

bool
Ar1RayleighFading::IsLazy() const
{
    return m_lazy;
}

void
Ar1RayleighFading::Reset()
{
    m_byRx.clear();
    m_nLinks = 0;
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
