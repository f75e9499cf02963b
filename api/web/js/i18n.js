// Interface text in English and Chinese: the browser's language picks, the switch
// overrides (kept in localStorage). Elements carry data-i18n (text) or
// data-i18n-placeholder; messages with {name} take values.

const TEXT = {
  en: {
    skip: "Skip to the question",
    title: "Ask your documents",
    kbLabel: "Knowledge base",
    allKbs: "All knowledge bases",
    autoKb: "Auto (chosen for each question)",
    changeKey: "API key",
    chat: "Conversation",
    question: "Question",
    placeholder: "Ask a question (Enter sends, Shift+Enter breaks the line)",
    send: "Ask",
    stop: "Stop",
    newChat: "New conversation",
    settings: "Settings",
    model: "Model",
    temperature: "Temperature",
    topK: "Passages (top_k)",
    serverDefault: "server default",
    extractive: "Extractive only (no model: sentences quoted from the documents)",
    documents: "Documents",
    docsKb: "In knowledge base",
    drop: "Drop files here, or press to choose them",
    dropHint: "PDF, Word, PowerPoint, Excel, HTML, Markdown, text, images…",
    filter: "Filter",
    manageKbs: "Knowledge bases",
    kbName: "Name (a-z first, then a-z, 0-9, _; not _ last)",
    kbNameRule: "Start with a lowercase letter; then lowercase letters, digits and _ (not last); up to 32 characters, e.g. hr_policies.",
    kbDescription: "Description (used by auto routing)",
    create: "Create",
    deleteKb: "Delete this knowledge base",
    close: "Close",
    keyTitle: "API key needed",
    keyWhy: "This server needs an API key. It is kept in this tab only.",
    keyRefused: "That key was refused. Enter a valid one; it is kept in this tab only.",
    useKey: "Use this key",
    you: "You",
    assistant: "Answer",
    thinking: "Searching…",
    sources: "Sources",
    score: "score",
    confidence: "confidence",
    page: "page {page}",
    noSources: "No passage matched.",
    degraded: "The model could not be reached: this answer is quoted from the documents.",
    serverDegraded: "The server is degraded:",
    serverUnavailable: "The server cannot answer now:",
    stopped: "Stopped.",
    busy: "The server is busy. Try again in {s} s.",
    unreachable: "Cannot reach the server. Is `rag serve` running?",
    error: "Error",
    documentsCount: "{shown} of {total} documents",
    deleteDoc: "Delete",
    confirmDeleteDoc: "Delete {name} from {kb}?",
    confirmDeleteKb: "Delete the knowledge base {kb} and all its documents?",
    deleted: "Deleted {name}.",
    kbCreated: "Knowledge base {kb} created.",
    kbDeleted: "Knowledge base {kb} deleted.",
    uploading: "uploading",
    queued: "queued",
    running: "ingesting",
    done: "done",
    failed: "failed",
    skipped: "unchanged, already there",
    chunks: "{n} chunks",
    chunks_one: "1 chunk",
    reason_unsupported_format: "unsupported file type",
    reason_corrupt_file: "the file is damaged or cannot be read",
    reason_empty_document: "no text found in the file",
    reason_missing_tool: "a tool needed for this format is not installed on the server",
    reason_parse_timeout: "parsing took too long",
    reason_parser_memory: "parsing needed too much memory",
    reason_unsafe_file: "refused: the file looks built to harm a parser",
    reason_too_large: "the file is too large",
    reason_bad_name: "the file name cannot be used",
    reason_ingest_failed: "the file could not be ingested",
    noKb: "No knowledge base yet: create one below.",
  },
  zh: {
    skip: "跳到提问框",
    title: "向你的文档提问",
    kbLabel: "知识库",
    allKbs: "全部知识库",
    autoKb: "自动（按问题选择）",
    changeKey: "API 密钥",
    chat: "对话",
    question: "问题",
    placeholder: "输入问题（Enter 发送，Shift+Enter 换行）",
    send: "提问",
    stop: "停止",
    newChat: "新对话",
    settings: "设置",
    model: "模型",
    temperature: "温度",
    topK: "检索段落数（top_k）",
    serverDefault: "服务器默认",
    extractive: "仅抽取（不用模型：直接引用文档中的句子）",
    documents: "文档",
    docsKb: "所在知识库",
    drop: "把文件拖到这里，或按下选择文件",
    dropHint: "PDF、Word、PowerPoint、Excel、HTML、Markdown、文本、图片……",
    filter: "筛选",
    manageKbs: "知识库管理",
    kbName: "名称（小写字母开头，可含 a-z、0-9、_，不以 _ 结尾）",
    kbNameRule: "以小写字母开头，只含小写字母、数字和 _（不能以 _ 结尾），最多 32 个字符，例如 hr_policies。",
    kbDescription: "描述（自动路由时使用）",
    create: "创建",
    deleteKb: "删除此知识库",
    close: "关闭",
    keyTitle: "需要 API 密钥",
    keyWhy: "此服务器需要 API 密钥，密钥只保存在当前标签页。",
    keyRefused: "密钥被拒绝。请输入有效的密钥，它只保存在当前标签页。",
    useKey: "使用此密钥",
    you: "你",
    assistant: "回答",
    thinking: "检索中……",
    sources: "来源",
    score: "得分",
    confidence: "置信度",
    page: "第 {page} 页",
    noSources: "没有匹配的段落。",
    degraded: "无法连接模型：此回答直接摘自文档。",
    serverDegraded: "服务器处于降级状态：",
    serverUnavailable: "服务器暂时无法回答：",
    stopped: "已停止。",
    busy: "服务器繁忙，请 {s} 秒后重试。",
    unreachable: "无法连接服务器。`rag serve` 在运行吗？",
    error: "错误",
    documentsCount: "显示 {shown} / 共 {total} 个文档",
    deleteDoc: "删除",
    confirmDeleteDoc: "从 {kb} 删除 {name}？",
    confirmDeleteKb: "删除知识库 {kb} 及其全部文档？",
    deleted: "已删除 {name}。",
    kbCreated: "已创建知识库 {kb}。",
    kbDeleted: "已删除知识库 {kb}。",
    uploading: "上传中",
    queued: "排队中",
    running: "入库中",
    done: "完成",
    failed: "失败",
    skipped: "未变化，已存在",
    chunks: "{n} 个分块",
    reason_unsupported_format: "不支持的文件类型",
    reason_corrupt_file: "文件已损坏或无法读取",
    reason_empty_document: "文件中没有找到文字",
    reason_missing_tool: "服务器未安装处理此格式所需的工具",
    reason_parse_timeout: "解析超时",
    reason_parser_memory: "解析所需内存超出限制",
    reason_unsafe_file: "已拒绝：文件疑似针对解析器的恶意构造",
    reason_too_large: "文件太大",
    reason_bad_name: "文件名无法使用",
    reason_ingest_failed: "文件无法入库",
    noKb: "还没有知识库：请在下方创建。",
  },
};

let current = "en";

export function chooseLanguage() {
  const saved = localStorage.getItem("rag-lang");
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  current = saved in TEXT ? saved : browser.toLowerCase().startsWith("zh") ? "zh" : "en";
  return current;
}

// A failed file's reason in the reader's language: the server's words in English, the
// code's wording otherwise (the server's words then in the tooltip).
export function failure(code, reason) {
  const known = code && TEXT[current][`reason_${code}`];
  if (!known || (current === "en" && reason)) return { text: reason || known || "", detail: "" };
  return { text: known, detail: reason || "" };
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  current = lang in TEXT ? lang : "en";
  localStorage.setItem("rag-lang", current);
  apply();
}

export function t(key, values = {}) {
  // A count of one takes the `_one` form where the language has one ("1 chunk").
  const one = values.n === 1 ? TEXT[current][`${key}_one`] : undefined;
  const text = one ?? TEXT[current][key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export function apply(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  const lang = document.getElementById("lang");
  if (lang) lang.textContent = current === "zh" ? "English" : "中文";
}
