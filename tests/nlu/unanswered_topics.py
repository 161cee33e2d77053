"""Messages a shop's bot could not answer, in five unrelated topics, English and Chinese.

Written for the grouping tests; each topic's phrasings vary their words, as customers do, rather
than repeat one sentence. ``TOPICS`` chose the blends and thresholds of
``chatbot.nlu.grouping.BLENDS``; ``HELD_OUT`` was written afterwards and only measures them.
"""

from __future__ import annotations

TOPICS: dict[str, dict[str, list[str]]] = {
    "pets": {
        "en": [
            "Can I bring my dog into the store?",
            "Are pets allowed inside your shop?",
            "is it ok to come in with my puppy",
            "Do you let customers bring their cats or dogs in?",
            "my dog goes everywhere with me, can he come inside",
            "pet friendly store?",
        ],
        "zh": [
            "可以带狗进店吗?",
            "你们店里允许带宠物吗",
            "我能带我的小狗一起进去吗",
            "宠物可以进入商店吗?",
            "带猫进店可以吗",
            "店里能不能带宠物狗",
        ],
    },
    "password": {
        "en": [
            "I forgot my password and can't log in",
            "How do I reset my account password?",
            "locked out of my account, password not working",
            "can't sign in, need a new password",
            "password reset link never arrived",
            "how to change the password for my login",
        ],
        "zh": [
            "我忘记密码了,登录不了",
            "怎么重置账号密码?",
            "密码错误,账号登不上去",
            "重置密码的邮件一直没收到",
            "如何修改登录密码",
            "账号密码忘了怎么办",
        ],
    },
    "parking": {
        "en": [
            "Is there parking near the shop?",
            "where can I park my car when I visit",
            "do you have a car park for customers",
            "is parking free at your store",
            "any parking spaces close to the entrance?",
            "where do I leave my car",
        ],
        "zh": [
            "店附近有停车场吗?",
            "开车去哪里可以停车",
            "你们有顾客停车位吗",
            "停车免费吗",
            "门口能停车吗?",
            "商店有没有停车的地方",
        ],
    },
    "gift_wrap": {
        "en": [
            "Do you offer gift wrapping?",
            "can you wrap my order as a present",
            "is gift wrap available at checkout",
            "I want this wrapped as a birthday gift",
            "can I add a gift message and wrapping paper",
            "how much does gift wrapping cost",
        ],
        "zh": [
            "可以提供礼品包装吗?",
            "能帮我把商品包装成礼物吗",
            "结账时可以选礼品包装吗",
            "我想把它包成生日礼物",
            "可以加贺卡和包装纸吗",
            "礼品包装要多少钱",
        ],
    },
    "screen_repair": {
        "en": [
            "My phone screen cracked, can you repair it?",
            "do you fix broken screens",
            "is a cracked display covered by the warranty",
            "how much to replace a shattered phone screen",
            "I dropped my phone and the glass broke",
            "screen repair service available?",
        ],
        "zh": [
            "手机屏幕碎了,能修吗?",
            "你们修理坏掉的屏幕吗",
            "屏幕裂了保修包括吗",
            "换一个手机屏幕多少钱",
            "手机摔了,玻璃碎了",
            "有屏幕维修服务吗?",
        ],
    },
}


HELD_OUT: dict[str, dict[str, list[str]]] = {
    "loyalty_points": {
        "en": [
            "how many reward points do I have",
            "Can I use my loyalty points on this order?",
            "when do my points expire",
            "do I earn points when I shop online",
            "check my membership points balance",
        ],
        "zh": [
            "我有多少积分?",
            "积分可以抵扣订单吗",
            "会员积分什么时候过期",
            "网上购物也能攒积分吗",
            "怎么查询我的会员积分",
        ],
    },
    "student_discount": {
        "en": [
            "Do you have a student discount?",
            "I'm at university, is there a deal for students",
            "student pricing available?",
            "can I get money off with my student card",
            "discount for college students",
        ],
        "zh": [
            "学生有优惠吗?",
            "我是大学生,有学生折扣吗",
            "凭学生证能打折吗",
            "学生购买有没有特价",
            "在校生可以享受折扣吗",
        ],
    },
    "ship_abroad": {
        "en": [
            "Do you ship to Canada?",
            "can you deliver overseas",
            "international shipping to Australia?",
            "I live in Germany, will you send it there",
            "which countries do you deliver to",
        ],
        "zh": [
            "可以寄到国外吗?",
            "你们发国际快递吗",
            "能送到加拿大吗",
            "海外地址可以配送吗",
            "支持寄往哪些国家",
        ],
    },
    "shoe_size": {
        "en": [
            "What size shoe should I order?",
            "do your sneakers run small",
            "is there a size chart for boots",
            "I'm usually a 42, which size fits me",
            "how do your shoe sizes compare to Nike",
        ],
        "zh": [
            "鞋子应该选多大码?",
            "你们的鞋码偏小吗",
            "有没有鞋子尺码表",
            "我平时穿42码,该买哪个尺码",
            "靴子尺码标准吗",
        ],
    },
    "jobs": {
        "en": [
            "Are you hiring at the moment?",
            "how can I apply for a job in your store",
            "any vacancies for part-time work",
            "I'd like to work for your company",
            "where do I send my CV",
        ],
        "zh": [
            "你们现在招人吗?",
            "怎么申请你们店的工作",
            "有兼职岗位吗",
            "我想去你们公司上班",
            "简历投到哪里",
        ],
    },
}


def labelled(
    topics: dict[str, dict[str, list[str]]] = TOPICS,
) -> tuple[list[str], list[str]]:
    """Every message and its true group (topic and language), topic by topic."""
    texts, labels = [], []
    for topic, languages in topics.items():
        for language, phrasings in languages.items():
            texts += phrasings
            labels += [f"{topic}/{language}"] * len(phrasings)
    return texts, labels
