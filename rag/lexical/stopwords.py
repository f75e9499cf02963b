"""Built-in stop-word lists for the lexical analyzer, by language code.

English: the Glasgow IR group list as shipped by scikit-learn (318 words). Chinese: function
words and pronouns that jieba's search mode emits as their own tokens.
"""

from __future__ import annotations

__all__ = ["STOPWORDS"]

_ENGLISH = """
    a about above across after afterwards again against all almost alone along already also although
    always am among amongst amoungst amount an and another any anyhow anyone anything anyway
    anywhere are around as at back be became because become becomes becoming been before beforehand
    behind being below beside besides between beyond bill both bottom but by call can cannot cant co
    con could couldnt cry de describe detail do done down due during each eg eight either eleven
    else elsewhere empty enough etc even ever every everyone everything everywhere except few
    fifteen fifty fill find fire first five for former formerly forty found four from front full
    further get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers
    herself him himself his how however hundred i ie if in inc indeed interest into is it its itself
    keep last latter latterly least less ltd made many may me meanwhile might mill mine more
    moreover most mostly move much must my myself name namely neither never nevertheless next nine
    no nobody none noone nor not nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own part per perhaps please put rather re same see
    seem seemed seeming seems serious several she should show side since sincere six sixty so some
    somehow someone something sometime sometimes somewhere still such system take ten than that the
    their them themselves then thence there thereafter thereby therefore therein thereupon these
    they thick thin third this those though three through throughout thru thus to together too top
    toward towards twelve twenty two un under until up upon us very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who whoever whole whom whose why will with within without would yet
    you your yours yourself yourselves
"""

_CHINESE = """
    的 了 和 是 在 就 都 而 及 与 着 或 也 很 把 被 让 给 从 对
    向 以 之 其 所 于 为 这 那 这个 那个 这些 那些 一个 一些 一种 我
    你 他 她 它 我们 你们 他们 她们 它们 自己 什么 怎么 怎样 如何 哪
    哪些 哪里 吗 呢 吧 啊 呀 嘛 么 得 地 之后 之前 以及 并且 而且
    但是 但 因为 所以 如果 虽然 然后 还是 或者 可以 能 会 要 将 已
    已经 没有 不 没 有 个 中 上 下 里 等 请 问
"""

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_ENGLISH.split()),
    "zh": frozenset(_CHINESE.split()),
}
