"""A fixed set of texts, written for this project, that calibrates int8 activations.

Static int8 quantisation (the openvino backend) measures the ranges of the model's
activations on sample inputs once, at export. The samples are these paragraphs (English and
Chinese, several fields and registers), alone, halved and joined in pairs so that lengths
run from a short question to past the model's 256 tokens. They are never the user's corpus
or an evaluation set: the same model gets the same file on every machine, and the quality
figures in the README are measured on texts the calibration never saw.
"""

from __future__ import annotations

import hashlib

__all__ = ["calibration_texts", "fingerprint"]

_PARAGRAPHS = (
    "Employees receive twenty days of paid leave a year. Unused days may be carried over to "
    "the next year, up to a limit of five, and must be taken before the end of March.",
    "To reset your password, open the account page, choose Security, and follow the link "
    "sent to your registered e-mail address. The link expires after thirty minutes.",
    "Vitamin D deficiency is common in older adults living in northern latitudes. In a "
    "randomised trial of 2,400 participants, daily supplementation did not reduce the rate "
    "of hip fractures over five years, although bone mineral density rose modestly.",
    "The enzyme binds its substrate through a pocket lined with hydrophobic residues; a "
    "single mutation at position 147 (Gly to Asp) abolished catalytic activity in vitro, "
    "suggesting that the flexibility of the loop is required for product release.",
    "Transformer encoders map a sequence of tokens to contextual vectors. Mean pooling over "
    "the token states, followed by L2 normalisation, gives a sentence embedding whose dot "
    "product with another approximates their semantic similarity.",
    "The contract may be terminated by either party with ninety days' written notice. "
    "Obligations of confidentiality survive termination for a period of three years, and "
    "any dispute shall be settled by arbitration in the seat named in Schedule B.",
    "Q3 revenue grew 14% year over year to $2.3 billion, driven by subscriptions; operating "
    "margin narrowed to 11.2% as the company expanded its data-centre capacity in Europe.",
    "Preheat the oven to 200 degrees. Mix the flour, butter and a pinch of salt until the "
    "dough forms crumbs, add cold water one spoon at a time, then rest it for an hour.",
    "The river rose three metres overnight after heavy rain upstream. Residents of the low "
    "districts were evacuated to schools, and the railway line was closed until Tuesday.",
    "def retry(call, attempts=3):\n    for n in range(attempts):\n        try:\n"
    "            return call()\n        except TimeoutError:\n            sleep(2 ** n)\n"
    "    raise RuntimeError('gave up')",
    "Error 503: the upstream service is unavailable. Check that the server is running, that "
    "the base URL and port are correct, and try again in a few seconds.",
    "How do I remove a document from the index?",
    "What is the maximum file size for uploads?",
    "Does aspirin lower the risk of a second heart attack in patients over 70?",
    "Photosynthesis converts light energy into chemical energy stored in glucose. The light "
    "reactions take place in the thylakoid membranes, where water is split and oxygen is "
    "released; the Calvin cycle in the stroma fixes carbon dioxide.",
    "In 1869 Dmitri Mendeleev arranged the known elements by atomic weight and left gaps "
    "for elements not yet discovered, predicting the properties of gallium and germanium.",
    "Patients with type 2 diabetes who received the GLP-1 receptor agonist lost on average "
    "6.1 kg (95% CI 5.2-7.0) at 52 weeks, compared with 1.9 kg on placebo; nausea was the "
    "most frequent adverse event and led to discontinuation in 4% of participants.",
    "The cache is keyed by the model's hash and the text's hash, so unchanged passages are "
    "never embedded twice, even across knowledge bases that share documents.",
    "Install the package, run the ingestion command on a folder of PDF, Word and Markdown "
    "files, then ask a question; the answer cites the passages it used.",
    "She opened the window, listened to the rain on the roof of the shed, and decided that "
    "the letter could wait until morning.",
    "Table 2. Baseline characteristics: age 64.3 ± 9.1 years; 52% women; BMI 29.4 kg/m²; "
    "HbA1c 8.1%; eGFR 78 mL/min/1.73 m²; smokers 18%.",
    "The Milvus collection holds 500,000 vectors of 384 dimensions in an HNSW index with "
    "M = 16 and efConstruction = 200; queries return the ten nearest neighbours in 20 ms.",
    "Mutations in BRCA1 and BRCA2 impair homologous recombination repair, which makes "
    "tumour cells sensitive to PARP inhibitors through synthetic lethality.",
    "Please find attached the minutes of Monday's meeting. Action items: update the budget "
    "by Friday, confirm the venue, and send the draft agenda to all speakers.",
    "员工每年享受二十天带薪年假，未休完的假期最多可结转五天到下一年，并须在次年三月底前休完。",
    "如何重置密码？请打开账户页面，选择“安全”，然后点击发送到注册邮箱的链接。该链接三十分钟后失效。",
    "本研究纳入了两千四百名老年受试者，随机分为补充维生素D组和安慰剂组。五年随访结果显示，"
    "两组髋部骨折发生率无显著差异，但补充组的骨密度略有提高。",
    "合同任何一方均可提前九十天以书面形式通知对方解除合同。保密义务在合同终止后继续有效三年，"
    "因本合同产生的争议应提交仲裁解决。",
    "检索增强生成先从知识库中找出与问题相关的段落，再让大语言模型依据这些段落作答，并在回答中注明出处。",
    "光合作用将光能转化为储存在葡萄糖中的化学能。光反应在类囊体膜上进行，水被分解并释放氧气；"
    "卡尔文循环在叶绿体基质中固定二氧化碳。",
    "今年第三季度公司营业收入同比增长百分之十四，达到二十三亿美元，主要来自订阅业务；"
    "由于在欧洲扩建数据中心，营业利润率下降至百分之十一点二。",
    "昨夜上游普降暴雨，河水上涨了三米。低洼地区的居民被转移到附近的学校，铁路线停运至周二。",
    "怎样从索引中删除一份文档？",
    "上传文件的大小上限是多少？",
    "微调后的模型通过 vLLM 以兼容 OpenAI 的接口提供服务，也可以转换为 GGUF 格式交给 Ollama 运行。",
    "先将烤箱预热到两百度。把面粉、黄油和少许盐混合成碎屑状，再一勺一勺加入冷水，和成面团后静置一小时。",
)


def calibration_texts() -> list[str]:
    """The samples: each paragraph, its first half, and each pair of neighbours joined."""
    texts = list(_PARAGRAPHS)
    texts += [p[: len(p) // 2] for p in _PARAGRAPHS if len(p) > 80]
    texts += [a + "\n" + b for a, b in zip(_PARAGRAPHS, _PARAGRAPHS[1:], strict=False)]
    long = " ".join(_PARAGRAPHS[:8]), "".join(_PARAGRAPHS[24:])  # past 256 tokens
    return [*texts, *long]


def fingerprint() -> str:
    """A short hash of the samples: part of the exported file's name."""
    digest = hashlib.sha256("\x00".join(calibration_texts()).encode("utf-8"))
    return digest.hexdigest()[:8]
